/*
 * km_mime.c: decode a received message into the mail document (see km_mime.h).
 *
 * GMime does the MIME parsing and transfer decoding; the fields of the header
 * block come from the raw bytes (km_header.h), because GMime splits them into
 * two lists and cuts a value at a NUL. Charset conversion is done here with
 * iconv rather than with GMime's text helpers, because those silently repair
 * bad input and mime_valid must know whether the conversion was clean. Every
 * string handed to jansson is made valid UTF-8 first (bad bytes become
 * U+FFFD), since jansson refuses anything else and a broken mail must still be
 * stored. A NUL byte counts as bad too: as U+0000 it would cut the string short
 * for every C reader of the document, so it is replaced and marks the mail
 * invalid instead of passing unnoticed.
 */
#include "km_mime.h"

#include <assert.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "km_flowed.h"
#include "km_header.h"

/* Converted text parts are capped; a mail is at most a few MiB anyway. */
#define KM_MIME_TEXT_MAX ((size_t)64 * 1024 * 1024)
/* Multiparts nest at most this deep before the walk stops descending. */
#define KM_MIME_MAX_DEPTH 32
/* More links than this in one mail are not collected. */
#define KM_MIME_MAX_LINKS 1000

static const char km_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

void km_mime_global_init(void) {
  /* As konform-server does (ks_mail.c): GLib's slice caches hide from TSan and valgrind. */
  (void)setenv("G_SLICE", "always-malloc", 0);
  g_mime_init();
  /* libxml2 must be initialised in one thread before parsers run in several. */
  xmlInitParser();
}

void km_mime_global_shutdown(void) {
  g_mime_shutdown();
  xmlCleanupParser();
}

/* ---- UTF-8 helpers. ---- */

/*
 * The length of the run of ASCII bytes other than NUL at s: they need no
 * UTF-8 decoding, and most of a mail is such bytes.
 */
static size_t mime_ascii_run(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && (unsigned char)(s[i] - 1) < 0x7f)
    i++;
  return i;
}

/*
 * Append s as UTF-8, replacing each invalid byte and each NUL with U+FFFD. Sets
 * *clean to false when anything had to be replaced.
 */
static kf_rc mime_append_lossy_utf8(kf_buf *buf, const char *s, size_t len, bool *clean) {
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len) {
      run += mime_ascii_run(s + run, len - run);
      if (run == len)
        break;
      uint32_t cp;
      size_t n = kf_utf8_decode(s + run, len - run, &cp);
      if (n == 0 || cp == 0)
        break;
      run += n;
    }
    kf_rc rc = kf_buf_append(buf, s + i, run - i);
    if (rc != KF_OK)
      return rc;
    if (run < len) {
      *clean = false;
      rc = kf_buf_append(buf, km_replacement, sizeof(km_replacement) - 1);
      if (rc != KF_OK)
        return rc;
      run++;
    }
    i = run;
  }
  return KF_OK;
}

/*
 * A JSON string of s (len bytes), made valid UTF-8 without NUL; NULL only when
 * out of memory. *clean turns false when anything had to be replaced.
 */
static json_t *mime_json_string(const char *s, size_t len, bool *clean) {
  size_t ascii = mime_ascii_run(s, len);
  /* Checked here, so jansson need not check the UTF-8 again. */
  if (ascii == len ||
      (kf_utf8_valid(s + ascii, len - ascii) && memchr(s + ascii, '\0', len - ascii) == NULL))
    return json_stringn_nocheck(s, len);
  kf_buf buf;
  /* Every byte may become a 3-byte U+FFFD; the cap cannot overflow for a real length. */
  kf_buf_init(&buf, len * 3 + 1);
  json_t *j = NULL;
  if (mime_append_lossy_utf8(&buf, s, len, clean) == KF_OK) {
    /* Repaired: valid UTF-8 without NUL. */
    j = json_stringn_nocheck(buf.data != NULL ? buf.data : "", buf.len);
  }
  kf_buf_release(&buf);
  return j;
}

/* A JSON string of a NUL-terminated s, or JSON null for NULL. */
static json_t *mime_json_string_or_null(const char *s, bool *clean) {
  if (s == NULL)
    return json_null();
  return mime_json_string(s, strlen(s), clean);
}

static bool mime_charset_is(const char *charset, const char *const *names) {
  for (size_t i = 0; names[i] != NULL; i++) {
    if (kf_str_eq_ci(charset, names[i]))
      return true;
  }
  return false;
}

/*
 * Convert bytes in charset (NULL = none declared) to UTF-8 into out. *clean
 * turns false if the charset is unknown or any byte did not convert; the text
 * is still produced, with U+FFFD for what could not be converted.
 */
static kf_rc mime_convert_to_utf8(const char *bytes, size_t len, const char *charset, kf_buf *out,
                                  bool *clean) {
  static const char *const ascii_names[] = {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us",
                                            NULL};
  static const char *const utf8_names[] = {"utf-8", "utf8", NULL};
  if (charset == NULL || mime_charset_is(charset, ascii_names)) {
    /* 8-bit bytes are not US-ASCII; keep them readable if they are UTF-8. */
    for (size_t i = 0; i < len; i++) {
      if ((unsigned char)bytes[i] >= 0x80) {
        *clean = false;
        break;
      }
    }
    return mime_append_lossy_utf8(out, bytes, len, clean);
  }
  if (mime_charset_is(charset, utf8_names))
    return mime_append_lossy_utf8(out, bytes, len, clean);

  iconv_t cd = g_mime_iconv_open("UTF-8", charset);
  if (cd == (iconv_t)-1) {
    *clean = false;
    return mime_append_lossy_utf8(out, bytes, len, clean);
  }
  kf_rc rc = KF_OK;
  char *in = (char *)bytes;
  size_t in_left = len;
  char chunk[4096];
  while (rc == KF_OK && in_left > 0) {
    char *o = chunk;
    size_t o_left = sizeof(chunk);
    size_t r = iconv(cd, &in, &in_left, &o, &o_left);
    int saved = errno;
    rc = kf_buf_append(out, chunk, sizeof(chunk) - o_left);
    if (rc != KF_OK || r != (size_t)-1 || saved == E2BIG)
      continue;
    /* EILSEQ: an invalid sequence, skip one byte; EINVAL: truncated at the end. */
    *clean = false;
    rc = kf_buf_append(out, km_replacement, sizeof(km_replacement) - 1);
    if (saved != EILSEQ)
      break;
    in++;
    in_left--;
  }
  if (rc == KF_OK) {
    /* Flush a stateful encoding's shift sequence. */
    char *o = chunk;
    size_t o_left = sizeof(chunk);
    if (iconv(cd, NULL, NULL, &o, &o_left) != (size_t)-1) {
      rc = kf_buf_append(out, chunk, sizeof(chunk) - o_left);
    }
  }
  g_mime_iconv_close(cd);
  return rc;
}

/* ---- Links. ---- */

static kf_rc mime_link_add(json_t *links, const char *url, size_t len) {
  if (len == 0 || json_array_size(links) >= KM_MIME_MAX_LINKS)
    return KF_OK;
  size_t i;
  json_t *v;
  json_array_foreach(links, i, v) {
    if (json_string_length(v) == len && memcmp(json_string_value(v), url, len) == 0)
      return KF_OK;
  }
  /* The text is already clean UTF-8; a URL cut from it cannot need repair. */
  bool clean = true;
  json_t *s = mime_json_string(url, len, &clean);
  if (s == NULL || json_array_append_new(links, s) != 0)
    return KF_ERR_NOMEM;
  return KF_OK;
}

static bool mime_is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * The length of the URL-ending character at text (len bytes left), or 0 when
 * the URL goes on. Non-ASCII characters belong to the URL (IRIs such as
 * https://ex.test/straße are written that way in mails); blanks, controls, the
 * quoting characters < > " ' ` and U+00A0 (a no-break space, typed around links
 * by many editors) end it.
 */
static size_t mime_url_stop(const char *text, size_t len) {
  unsigned char c = (unsigned char)text[0];
  if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\'' || c == '`')
    return 1;
  if (c == 0xc2 && len >= 2 && (unsigned char)text[1] == 0xa0)
    return 2;
  return 0;
}

/* The length of url without trailing punctuation that belongs to the sentence. */
static size_t mime_url_trim(const char *url, size_t len) {
  while (len > 0) {
    char c = url[len - 1];
    if (strchr(".,;:!?", c) != NULL || c == ']' || c == '}') {
      len--;
      continue;
    }
    if (c == ')') {
      /* Keep a ')' that closes a '(' inside the URL (Wikipedia style). */
      size_t open = 0, close = 0;
      for (size_t i = 0; i < len; i++) {
        if (url[i] == '(')
          open++;
        if (url[i] == ')')
          close++;
      }
      if (close > open) {
        len--;
        continue;
      }
    }
    break;
  }
  return len;
}

/* Find http:// and https:// URLs in plain text. */
static kf_rc mime_links_from_text(json_t *links, const char *text, size_t len) {
  size_t i = 0;
  while (i < len) {
    /* A URL starts with h or H; the bytes before the next one need no look. */
    while (i < len && (text[i] | 0x20) != 'h')
      i++;
    if (i == len)
      break;
    size_t scheme = 0;
    if (len - i >= 8 && kf_str_starts_with_ci(text + i, "https://")) {
      scheme = 8;
    } else if (len - i >= 7 && kf_str_starts_with_ci(text + i, "http://")) {
      scheme = 7;
    }
    /* "xhttp://" is not a URL start; the scheme must stand on its own. */
    if (scheme == 0 || (i > 0 && mime_is_alnum((unsigned char)text[i - 1]))) {
      i++;
      continue;
    }
    size_t end = i + scheme;
    while (end < len && mime_url_stop(text + end, len - end) == 0)
      end++;
    size_t url_len = mime_url_trim(text + i, end - i);
    if (url_len > scheme) {
      kf_rc rc = mime_link_add(links, text + i, url_len);
      if (rc != KF_OK)
        return rc;
    }
    i = end;
  }
  return KF_OK;
}

/*
 * Add the link of an href value (changed in place). A mailer that wraps long
 * lines may break an attribute value (href="https://x/a<CR><LF>b"); a browser
 * removes every tab, CR and LF from a URL before parsing it (WHATWG URL,
 * "remove all ASCII tab or newline"), so the link the reader follows is the
 * whole URL without them, and that is what is stored.
 */
static kf_rc mime_href_add(json_t *links, char *h) {
  while (*h == '\n' || *h == '\r' || *h == '\t' || *h == ' ' || *h == '\f')
    h++;
  size_t n = 0;
  for (size_t i = 0; h[i] != '\0'; i++) {
    if (h[i] != '\t' && h[i] != '\r' && h[i] != '\n')
      h[n++] = h[i];
  }
  h[n] = '\0';
  size_t h_len = kf_str_rtrim_len(h, n);
  if (!kf_str_starts_with_ci(h, "http://") && !kf_str_starts_with_ci(h, "https://"))
    return KF_OK;
  return mime_link_add(links, h, h_len);
}

/* Whether node is a script or style element, whose text is code, not prose. */
static bool mime_html_is_code(const xmlNode *node) {
  return node != NULL && node->type == XML_ELEMENT_NODE && node->name != NULL &&
         (xmlStrcasecmp(node->name, (const xmlChar *)"script") == 0 ||
          xmlStrcasecmp(node->name, (const xmlChar *)"style") == 0);
}

/*
 * Collect http(s) href attributes and URLs written in the text from HTML, in
 * document order. Text inside script and style is skipped: a URL there is
 * never a link the reader sees.
 */
static kf_rc mime_links_from_html(json_t *links, const char *html, size_t len) {
  if (len == 0 || len > (size_t)INT32_MAX)
    return KF_OK;
  htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                                  HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                      HTML_PARSE_NONET | HTML_PARSE_NOBLANKS);
  if (doc == NULL)
    return KF_OK;
  kf_rc rc = KF_OK;
  /* An iterative walk, so deeply nested HTML cannot exhaust the stack. */
  xmlNodePtr node = xmlDocGetRootElement(doc);
  while (node != NULL && rc == KF_OK) {
    if (node->type == XML_ELEMENT_NODE) {
      xmlChar *href = xmlGetProp(node, (const xmlChar *)"href");
      if (href != NULL) {
        rc = mime_href_add(links, (char *)href);
        xmlFree(href);
      }
    } else if ((node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) &&
               node->content != NULL && !mime_html_is_code(node->parent)) {
      const char *t = (const char *)node->content;
      rc = mime_links_from_text(links, t, strlen(t));
    }
    if (node->type == XML_ELEMENT_NODE && node->children != NULL) {
      node = node->children;
      continue;
    }
    while (node != NULL && node->next == NULL)
      node = node->parent;
    if (node != NULL)
      node = node->next;
  }
  xmlFreeDoc(doc);
  return rc;
}

/* ---- The MIME tree. ---- */

typedef struct mime_walk {
  kf_buf text; /* The first inline text/plain part, as UTF-8. */
  bool have_text;
  kf_buf html; /* The first inline text/html part, as UTF-8. */
  bool have_html;
  bool clean; /* Every text part converted cleanly. */
} mime_walk;

/* Decode one leaf part's content (transfer encoding undone) into UTF-8 text. */
static kf_rc mime_part_text(GMimePart *part, kf_buf *out, bool *clean) {
  GMimeDataWrapper *content = g_mime_part_get_content(part);
  if (content == NULL)
    return KF_OK;
  GMimeStream *mem = g_mime_stream_mem_new();
  if (mem == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = KF_OK;
  if (g_mime_data_wrapper_write_to_stream(content, mem) < 0) {
    *clean = false;
  } else {
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    const char *charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
    rc = mime_convert_to_utf8((const char *)bytes->data, bytes->len, charset, out, clean);
  }
  g_object_unref(mem);
  return rc;
}

/* Whether obj is text/plain; format=flowed (RFC 3676), and *delsp whether DelSp=yes. */
static bool mime_is_flowed(GMimeObject *obj, bool *delsp) {
  GMimeContentType *ct = g_mime_object_get_content_type(obj);
  if (ct == NULL || !g_mime_content_type_is_type(ct, "text", "plain"))
    return false;
  const char *format = g_mime_content_type_get_parameter(ct, "format");
  const char *del = g_mime_content_type_get_parameter(ct, "delsp");
  *delsp = del != NULL && kf_str_eq_ci(del, "yes");
  return format != NULL && kf_str_eq_ci(format, "flowed");
}

/*
 * A body part's text as the reader sees it: converted to UTF-8 and, for
 * format=flowed, with the writer's soft line breaks undone. The lines as sent
 * stay in the raw source.
 */
static kf_rc mime_part_body(GMimePart *part, kf_buf *out, bool *clean) {
  bool delsp = false;
  if (!mime_is_flowed(GMIME_OBJECT(part), &delsp))
    return mime_part_text(part, out, clean);
  kf_buf flowed;
  kf_buf_init(&flowed, KM_MIME_TEXT_MAX);
  kf_rc rc = mime_part_text(part, &flowed, clean);
  if (rc == KF_OK)
    rc = km_flowed_decode(flowed.data, flowed.len, delsp, out);
  kf_buf_release(&flowed);
  return rc;
}

static kf_rc mime_walk_part(GMimeObject *obj, mime_walk *w, unsigned depth) {
  if (obj == NULL)
    return KF_OK;
  if (GMIME_IS_MULTIPART(obj)) {
    if (depth >= KM_MIME_MAX_DEPTH)
      return KF_OK;
    GMimeMultipart *mp = GMIME_MULTIPART(obj);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; i++) {
      kf_rc rc = mime_walk_part(g_mime_multipart_get_part(mp, i), w, depth + 1);
      if (rc != KF_OK)
        return rc;
    }
    return KF_OK;
  }
  /* An attached message (message/rfc822) is content, not this mail's body. */
  if (!GMIME_IS_PART(obj))
    return KF_OK;
  GMimeContentType *ct = g_mime_object_get_content_type(obj);
  if (ct == NULL || !g_mime_content_type_is_type(ct, "text", "*"))
    return KF_OK;
  bool is_plain = g_mime_content_type_is_type(ct, "text", "plain");
  bool is_html = g_mime_content_type_is_type(ct, "text", "html");
  GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
  bool attachment = disp != NULL && g_mime_content_disposition_is_attachment(disp);
  kf_buf *target = NULL;
  if (!attachment && is_plain && !w->have_text) {
    target = &w->text;
    w->have_text = true;
  } else if (!attachment && is_html && !w->have_html) {
    target = &w->html;
    w->have_html = true;
  }
  if (target != NULL)
    return mime_part_body(GMIME_PART(obj), target, &w->clean);
  /* Other text parts are converted only to judge their charset. */
  kf_buf scratch;
  kf_buf_init(&scratch, KM_MIME_TEXT_MAX);
  kf_rc rc = mime_part_text(GMIME_PART(obj), &scratch, &w->clean);
  kf_buf_release(&scratch);
  return rc;
}

/* ---- The document. ---- */

/* json_object_set_new that reports failure (and frees value) as KF_ERR_NOMEM. */
static kf_rc mime_set(json_t *obj, const char *key, json_t *value) {
  if (value == NULL)
    return KF_ERR_NOMEM;
  return json_object_set_new(obj, key, value) == 0 ? KF_OK : KF_ERR_NOMEM;
}

static kf_rc mime_envelope(json_t *doc, const km_smtp_envelope *env) {
  if (env == NULL)
    return mime_set(doc, "envelope", json_null());
  json_t *e = json_object();
  json_t *rcpts = json_array();
  kf_rc rc = (e != NULL && rcpts != NULL) ? KF_OK : KF_ERR_NOMEM;
  /* The SMTP engine checked the envelope; its repair would say nothing about the MIME. */
  bool clean = true;
  for (size_t i = 0; rc == KF_OK && i < env->rcpt_to_len; i++) {
    json_t *s = mime_json_string_or_null(env->rcpt_to[i], &clean);
    if (s == NULL || json_array_append_new(rcpts, s) != 0)
      rc = KF_ERR_NOMEM;
  }
  if (rc == KF_OK)
    rc = mime_set(e, "mail_from", mime_json_string_or_null(env->mail_from, &clean));
  if (rc == KF_OK) {
    rc = mime_set(e, "rcpt_to", rcpts);
    rcpts = NULL;
  }
  json_decref(rcpts);
  if (rc == KF_OK)
    return mime_set(doc, "envelope", e);
  json_decref(e);
  return rc;
}

/* Append every mailbox address in list to array (groups are flattened). */
static kf_rc mime_addresses(InternetAddressList *list, json_t *array, unsigned depth, bool *clean) {
  if (list == NULL)
    return KF_OK;
  int n = internet_address_list_length(list);
  for (int i = 0; i < n; i++) {
    InternetAddress *ia = internet_address_list_get_address(list, i);
    kf_rc rc = KF_OK;
    if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
      const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
      if (addr != NULL) {
        json_t *s = mime_json_string_or_null(addr, clean);
        if (s == NULL || json_array_append_new(array, s) != 0)
          rc = KF_ERR_NOMEM;
      }
    } else if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < 4) {
      rc = mime_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), array,
                          depth + 1, clean);
    }
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
}

/*
 * The RFC 2047 decoded form of an unfolded header value (len bytes), decoded
 * as GMime decodes header values, or NULL when out of memory. GMime reads C
 * strings, so each NUL becomes U+FFFD first (and *clean false); other bytes
 * are GMime's to judge, so 8-bit text gets GMime's charset fallback.
 */
static json_t *mime_header_decode(const char *value, size_t len, bool *clean) {
  kf_buf text;
  /* Every NUL may become a 3-byte U+FFFD; the cap cannot overflow for a real length. */
  kf_buf_init(&text, len * 3 + 1);
  kf_rc rc = kf_buf_append(&text, "", 0);
  for (size_t i = 0; rc == KF_OK && i < len;) {
    const char *nul = memchr(value + i, '\0', len - i);
    size_t run = nul != NULL ? (size_t)(nul - value) - i : len - i;
    rc = kf_buf_append(&text, value + i, run);
    i += run;
    if (rc == KF_OK && nul != NULL) {
      *clean = false;
      rc = kf_buf_append(&text, km_replacement, sizeof(km_replacement) - 1);
      i++;
    }
  }
  json_t *j = NULL;
  if (rc == KF_OK) {
    char *decoded = g_mime_utils_header_decode_text(NULL, text.data);
    j = mime_json_string_or_null(decoded != NULL ? decoded : "", clean);
    g_free(decoded);
  }
  kf_buf_release(&text);
  return j;
}

/*
 * headers[lower-case name of f] = decoded, unless the name is there already:
 * the first occurrence wins (Received, for instance, repeats). A name that is
 * not UTF-8 is repaired like any other text, because jansson refuses such a
 * key and the mail must still be stored.
 */
static kf_rc mime_header_index(json_t *headers, const km_header_field *f, json_t *decoded,
                               bool *clean) {
  kf_buf key;
  /* A name is one header line at most; the cap only guards the arithmetic. */
  kf_buf_init(&key, f->name_len * 3 + 1);
  kf_rc rc = kf_buf_append(&key, "", 0);
  if (rc == KF_OK)
    rc = mime_append_lossy_utf8(&key, f->name, f->name_len, clean);
  if (rc == KF_OK)
    kf_str_ascii_lower(key.data);
  if (rc == KF_OK && json_object_get(headers, key.data) == NULL)
    rc = mime_set(headers, key.data, json_incref(decoded));
  kf_buf_release(&key);
  return rc;
}

/*
 * Append f to header_list as {name, value as sent (unfolded), decoded} and
 * index it in headers.
 */
static kf_rc mime_header_add(json_t *headers, json_t *list, const km_header_field *f, bool *clean) {
  kf_buf value;
  kf_buf_init(&value, f->value_len + 1);
  kf_rc rc = km_header_unfold(f, &value);
  if (rc == KF_OK)
    rc = kf_buf_append(&value, "", 0);
  json_t *entry = rc == KF_OK ? json_object() : NULL;
  json_t *decoded = NULL;
  if (rc == KF_OK && entry == NULL)
    rc = KF_ERR_NOMEM;
  if (rc == KF_OK)
    rc = mime_set(entry, "name", mime_json_string(f->name, f->name_len, clean));
  if (rc == KF_OK)
    rc = mime_set(entry, "value", mime_json_string(value.data, value.len, clean));
  if (rc == KF_OK) {
    decoded = mime_header_decode(value.data, value.len, clean);
    rc = mime_set(entry, "decoded", json_incref(decoded));
  }
  if (rc == KF_OK) {
    /* json_array_append_new takes the entry even when it fails. */
    rc = json_array_append_new(list, entry) == 0 ? KF_OK : KF_ERR_NOMEM;
    entry = NULL;
  }
  if (rc == KF_OK)
    rc = mime_header_index(headers, f, decoded, clean);
  json_decref(entry);
  json_decref(decoded);
  kf_buf_release(&value);
  return rc;
}

/*
 * headers and header_list from every field of the top-level header block in
 * wire order, the MIME part's Content-* fields included, read from the raw
 * bytes (km_header.h) so that a NUL cannot cut a value short.
 */
static kf_rc mime_headers(json_t *doc, const char *raw, size_t len, bool *clean) {
  json_t *headers = json_object();
  json_t *list = json_array();
  kf_rc rc = (headers != NULL && list != NULL) ? KF_OK : KF_ERR_NOMEM;
  km_header_iter it;
  km_header_iter_init(&it, raw, len);
  km_header_field f;
  while (rc == KF_OK && km_header_iter_next(&it, &f))
    rc = mime_header_add(headers, list, &f, clean);
  if (rc == KF_OK) {
    rc = mime_set(doc, "headers", headers);
    headers = NULL;
  }
  if (rc == KF_OK) {
    rc = mime_set(doc, "header_list", list);
    list = NULL;
  }
  json_decref(headers);
  json_decref(list);
  return rc;
}

/* The fields every document has, filled for a message GMime could not parse. */
static kf_rc mime_defaults(json_t *doc, size_t len) {
  kf_rc rc = mime_set(doc, "from", json_null());
  if (rc == KF_OK)
    rc = mime_set(doc, "to", json_array());
  if (rc == KF_OK)
    rc = mime_set(doc, "subject", json_null());
  if (rc == KF_OK)
    rc = mime_set(doc, "date", json_null());
  if (rc == KF_OK)
    rc = mime_set(doc, "message_id", json_null());
  if (rc == KF_OK)
    rc = mime_set(doc, "headers", json_object());
  if (rc == KF_OK)
    rc = mime_set(doc, "header_list", json_array());
  if (rc == KF_OK)
    rc = mime_set(doc, "text", json_string(""));
  if (rc == KF_OK)
    rc = mime_set(doc, "html", json_null());
  if (rc == KF_OK)
    rc = mime_set(doc, "links", json_array());
  if (rc == KF_OK)
    rc = mime_set(doc, "size", json_integer((json_int_t)len));
  if (rc == KF_OK)
    rc = mime_set(doc, "mime_valid", json_false());
  return rc;
}

/* The members GMime's view of the message gives: from, to, date (after mime_headers). */
static kf_rc mime_addressing(json_t *doc, GMimeMessage *msg, bool *clean) {
  json_t *from_addrs = json_array();
  if (from_addrs == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = mime_addresses(g_mime_message_get_from(msg), from_addrs, 0, clean);
  if (rc == KF_OK) {
    json_t *first = json_array_get(from_addrs, 0);
    rc = mime_set(doc, "from", first != NULL ? json_incref(first) : json_null());
  }
  json_decref(from_addrs);
  if (rc != KF_OK)
    return rc;

  json_t *to = json_array();
  if (to == NULL)
    return KF_ERR_NOMEM;
  rc = mime_addresses(g_mime_message_get_to(msg), to, 0, clean);
  if (rc != KF_OK) {
    json_decref(to);
    return rc;
  }
  rc = mime_set(doc, "to", to);
  /* Date as headers has it: the first one, every byte of it. */
  json_t *date = json_object_get(json_object_get(doc, "headers"), "date");
  if (rc == KF_OK)
    rc = mime_set(doc, "date", date != NULL ? json_incref(date) : json_null());
  return rc;
}

/* The text and html bodies and the links in them; *clean: every charset converted cleanly. */
static kf_rc mime_bodies(json_t *doc, GMimeMessage *msg, bool *clean) {
  mime_walk w;
  kf_buf_init(&w.text, KM_MIME_TEXT_MAX);
  kf_buf_init(&w.html, KM_MIME_TEXT_MAX);
  w.have_text = false;
  w.have_html = false;
  w.clean = true;
  kf_rc rc = mime_walk_part(g_mime_message_get_mime_part(msg), &w, 0);
  json_t *links = NULL;
  /*
   * The bodies go through the same repair as headers: a charset converted by
   * iconv can still carry NUL bytes, which must not reach the document. Links
   * are then taken from the repaired text, so they never hold a NUL either.
   */
  json_t *text = NULL, *html = NULL;
  if (rc == KF_OK) {
    text = mime_json_string(w.text.data != NULL ? w.text.data : "", w.text.len, &w.clean);
    rc = mime_set(doc, "text", text != NULL ? json_incref(text) : NULL);
  }
  if (rc == KF_OK && w.have_html) {
    html = mime_json_string(w.html.data != NULL ? w.html.data : "", w.html.len, &w.clean);
    rc = mime_set(doc, "html", html != NULL ? json_incref(html) : NULL);
  }
  if (rc == KF_OK) {
    links = json_array();
    if (links == NULL)
      rc = KF_ERR_NOMEM;
  }
  if (rc == KF_OK && json_string_length(text) > 0)
    rc = mime_links_from_text(links, json_string_value(text), json_string_length(text));
  if (rc == KF_OK && json_string_length(html) > 0)
    rc = mime_links_from_html(links, json_string_value(html), json_string_length(html));
  if (rc == KF_OK) {
    rc = mime_set(doc, "links", links);
    links = NULL;
  }
  json_decref(links);
  json_decref(text);
  json_decref(html);
  kf_buf_release(&w.text);
  kf_buf_release(&w.html);
  *clean = w.clean;
  return rc;
}

/* Fill doc from a parsed message and its raw source (len bytes). */
static kf_rc mime_from_message(json_t *doc, GMimeMessage *msg, const char *raw, size_t len) {
  /* Whether every header (names, values, addresses) was clean UTF-8 without NUL. */
  bool headers_clean = true;
  bool bodies_clean = true;
  kf_rc rc = mime_headers(doc, raw, len, &headers_clean);
  if (rc == KF_OK)
    rc = mime_addressing(doc, msg, &headers_clean);
  if (rc == KF_OK)
    rc = mime_bodies(doc, msg, &bodies_clean);
  json_t *headers = json_object_get(doc, "headers");
  bool valid = bodies_clean && headers_clean && json_object_get(headers, "from") != NULL &&
               json_object_get(headers, "date") != NULL;
  if (rc == KF_OK)
    rc = mime_set(doc, "mime_valid", json_boolean(valid));
  return rc;
}

/* ---- What the store needs at once, and the rest. ---- */

/*
 * The value of f as GMime keeps it, for the message_id GMime would give:
 * cut at the first NUL (GMime holds a value as a C string), unfolded, and
 * NUL-terminated in out.
 */
static kf_rc mime_field_c_value(const km_header_field *f, kf_buf *out) {
  km_header_field cut = *f;
  const char *nul = memchr(f->value, '\0', f->value_len);
  if (nul != NULL)
    cut.value_len = (size_t)(nul - f->value);
  kf_rc rc = km_header_unfold(&cut, out);
  return rc == KF_OK ? kf_buf_append(out, "", 0) : rc;
}

static bool mime_field_is(const km_header_field *f, const char *name) {
  size_t n = strlen(name);
  return f->name_len == n && kf_str_starts_with_ci(f->name, name);
}

/*
 * message_id as GMime reads it (gmime-message.c): the last Message-Id field
 * wins, its value RFC 2047 decoded and then taken apart as a msg-id (the
 * angle brackets, comments and blanks go). JSON null without the field or
 * an id. Needs the GMime lock for the decoding's charset converters.
 */
static kf_rc mime_message_id(const char *raw, size_t len, json_t **out) {
  *out = NULL;
  km_header_iter it;
  km_header_iter_init(&it, raw, len);
  km_header_field f, last = {0};
  bool found = false;
  while (km_header_iter_next(&it, &f)) {
    if (mime_field_is(&f, "message-id")) {
      last = f;
      found = true;
    }
  }
  if (!found) {
    *out = json_null();
    return *out != NULL ? KF_OK : KF_ERR_NOMEM;
  }
  kf_buf value;
  kf_buf_init(&value, last.value_len + 1);
  kf_rc rc = mime_field_c_value(&last, &value);
  if (rc == KF_OK) {
    char *decoded = g_mime_utils_header_decode_text(NULL, value.data);
    char *id = g_mime_utils_decode_message_id(decoded != NULL ? decoded : "");
    bool clean = true;
    *out = mime_json_string_or_null(id, &clean);
    g_free(id);
    g_free(decoded);
    if (*out == NULL)
      rc = KF_ERR_NOMEM;
  }
  kf_buf_release(&value);
  return rc;
}

/* subject as headers has it: the first Subject field, unfolded and decoded; JSON null without one.
 */
static json_t *mime_subject(const char *raw, size_t len) {
  km_header_iter it;
  km_header_iter_init(&it, raw, len);
  km_header_field f;
  while (km_header_iter_next(&it, &f)) {
    if (!mime_field_is(&f, "subject"))
      continue;
    kf_buf value;
    kf_buf_init(&value, f.value_len + 1);
    kf_rc rc = km_header_unfold(&f, &value);
    if (rc == KF_OK)
      rc = kf_buf_append(&value, "", 0);
    bool clean = true;
    json_t *s = rc == KF_OK ? mime_header_decode(value.data, value.len, &clean) : NULL;
    kf_buf_release(&value);
    return s;
  }
  return json_null();
}

/*
 * GMime and GLib keep process-wide caches behind their own futex-based
 * locks, which ThreadSanitizer cannot see: the time zones that parsing a
 * Date field creates and frees (g_time_zone_new_identifier, reached from
 * g_mime_parser_construct_message), and the charset converters. Every use of
 * GMime in this file holds this mutex, so those caches are only ever touched
 * by one thread at a time in an order TSan sees. It costs next to nothing:
 * a mail is decoded when it is read, and storing one takes it for a few
 * microseconds.
 */
static pthread_mutex_t mime_gmime_lock = PTHREAD_MUTEX_INITIALIZER;

kf_rc km_mime_summary(const char *raw, size_t len, const km_smtp_envelope *env, json_t **out,
                      kf_err *err) {
  assert(out != NULL && (raw != NULL || len == 0));
  *out = NULL;
  raw = raw != NULL ? raw : "";
  json_t *doc = json_object();
  kf_rc rc = doc != NULL ? mime_envelope(doc, env) : KF_ERR_NOMEM;
  json_t *message_id = NULL;
  json_t *subject = NULL;
  if (rc == KF_OK) {
    pthread_mutex_lock(&mime_gmime_lock);
    subject = mime_subject(raw, len);
    rc = mime_message_id(raw, len, &message_id);
    pthread_mutex_unlock(&mime_gmime_lock);
  }
  if (rc == KF_OK)
    rc = mime_set(doc, "subject", subject);
  else
    json_decref(subject);
  if (rc == KF_OK)
    rc = mime_set(doc, "message_id", message_id);
  else
    json_decref(message_id);
  if (rc != KF_OK) {
    json_decref(doc);
    return kf_err_set(err, rc, "out of memory reading a message's header");
  }
  *out = doc;
  return KF_OK;
}

/* Fill doc (after its defaults) from GMime's parse of raw, holding the GMime lock. */
static kf_rc mime_parse_into(json_t *doc, const char *raw, size_t len) {
  kf_rc rc = KF_OK;
  pthread_mutex_lock(&mime_gmime_lock);
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
  GMimeParser *parser = g_mime_parser_new_with_stream(stream);
  GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
  g_object_unref(parser);
  g_object_unref(stream);
  if (msg != NULL) {
    rc = mime_from_message(doc, msg, raw, len);
    /* Also frees the message's date, and with it maybe a cached time zone. */
    g_object_unref(msg);
  }
  pthread_mutex_unlock(&mime_gmime_lock);
  return rc;
}

kf_rc km_mime_expand(const json_t *summary, const char *raw, size_t len, json_t **out,
                     kf_err *err) {
  assert(summary != NULL && out != NULL && (raw != NULL || len == 0));
  *out = NULL;
  raw = raw != NULL ? raw : "";
  json_t *doc = json_object();
  if (doc == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory decoding a message");
  json_t *envelope = json_object_get(summary, "envelope");
  kf_rc rc = mime_set(doc, "envelope", envelope != NULL ? json_incref(envelope) : json_null());
  if (rc == KF_OK)
    rc = mime_defaults(doc, len);
  if (rc == KF_OK)
    rc = mime_parse_into(doc, raw, len);
  /* The store searched and matched the mail by these: the document says the same. */
  static const char *const kept[] = {"subject", "message_id"};
  for (size_t i = 0; rc == KF_OK && i < sizeof(kept) / sizeof(kept[0]); i++) {
    json_t *v = json_object_get(summary, kept[i]);
    rc = mime_set(doc, kept[i], v != NULL ? json_incref(v) : json_null());
  }
  if (rc != KF_OK) {
    json_decref(doc);
    return kf_err_set(err, rc, "out of memory decoding a message");
  }
  *out = doc;
  return KF_OK;
}

kf_rc km_mime_decode(const char *raw, size_t len, const km_smtp_envelope *env, json_t **out,
                     kf_err *err) {
  assert(out != NULL && (raw != NULL || len == 0));
  *out = NULL;
  json_t *summary = NULL;
  kf_rc rc = km_mime_summary(raw, len, env, &summary, err);
  if (rc == KF_OK)
    rc = km_mime_expand(summary, raw, len, out, err);
  json_decref(summary);
  return rc;
}
