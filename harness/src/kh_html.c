/*
 * kh_html.c: visible text and links of an HTML page (see kh_html.h).
 */
#include "kh_html.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <string.h>

#include "kh_text.h"

/* Pages larger than this are not read (a target may answer anything). */
#define KH_HTML_MAX (16u * 1024u * 1024u)

static bool kh_html_is(const xmlNode *n, const char *const *names) {
  for (size_t i = 0; names[i] != NULL; i++) {
    if (xmlStrcasecmp(n->name, (const xmlChar *)names[i]) == 0)
      return true;
  }
  return false;
}

/* Elements whose content a person does not see. */
static bool kh_html_hidden(const xmlNode *n) {
  static const char *const hidden[] = {"head", "script", "style", "template", NULL};
  return kh_html_is(n, hidden);
}

/* Elements that start a line of their own. */
static bool kh_html_block(const xmlNode *n) {
  static const char *const blocks[] = {
      "address", "article", "aside",   "blockquote", "br",         "dd",     "details", "dialog",
      "div",     "dl",      "dt",      "fieldset",   "figcaption", "figure", "footer",  "form",
      "h1",      "h2",      "h3",      "h4",         "h5",         "h6",     "header",  "hr",
      "li",      "main",    "nav",     "ol",         "p",          "pre",    "section", "table",
      "tr",      "ul",      "summary", "label",      "button",     "title",  NULL};
  return kh_html_is(n, blocks);
}

/* Append s, folding white space runs to one blank; *blank tells whether out ends in one. */
static kf_rc kh_html_put(kf_buf *out, const char *s, bool *blank) {
  kf_rc rc = KF_OK;
  for (; *s != '\0' && rc == KF_OK; s++) {
    bool ws = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f';
    if (ws) {
      if (!*blank && out->len > 0 && out->data[out->len - 1] != '\n')
        rc = kf_buf_append_byte(out, ' ');
      *blank = true;
    } else {
      rc = kf_buf_append_byte(out, *s);
      *blank = false;
    }
  }
  return rc;
}

/* End the current line (no trailing blank, no empty line). */
static kf_rc kh_html_newline(kf_buf *out, bool *blank) {
  while (out->len > 0 && out->data[out->len - 1] == ' ')
    out->data[--out->len] = '\0';
  *blank = true;
  if (out->len == 0 || out->data[out->len - 1] == '\n')
    return KF_OK;
  return kf_buf_append_byte(out, '\n');
}

static kf_rc kh_html_walk(const xmlNode *n, kf_buf *out, bool *blank, int depth) {
  kf_rc rc = KF_OK;
  /* Deeper than any page a person reads; stops a hostile target's nesting. */
  if (depth > 256)
    return KF_OK;
  for (; n != NULL && rc == KF_OK; n = n->next) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      rc = kh_html_put(out, (const char *)n->content, blank);
      continue;
    }
    if (n->type != XML_ELEMENT_NODE || kh_html_hidden(n))
      continue;
    bool block = kh_html_block(n);
    if (block)
      rc = kh_html_newline(out, blank);
    if (rc == KF_OK)
      rc = kh_html_walk(n->children, out, blank, depth + 1);
    if (rc == KF_OK && block)
      rc = kh_html_newline(out, blank);
  }
  return rc;
}

static htmlDocPtr kh_html_read(const char *html, size_t len) {
  if (len > KH_HTML_MAX)
    return NULL;
  return htmlReadMemory(html, (int)len, "page.html", "UTF-8",
                        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                            HTML_PARSE_NONET);
}

/* The visible text of node's subtree into out, trimmed. */
static kf_rc kh_html_node_text(const xmlNode *node, kf_buf *out) {
  bool blank = true;
  kf_rc rc = kh_html_walk(node, out, &blank, 0);
  if (rc == KF_OK)
    rc = kh_html_newline(out, &blank);
  /* The last line's newline is not part of the text. */
  if (rc == KF_OK && out->len > 0 && out->data[out->len - 1] == '\n')
    out->data[--out->len] = '\0';
  return rc;
}

kf_rc kh_html_text(const char *html, size_t len, kf_buf *out) {
  htmlDocPtr doc = kh_html_read(html, len);
  if (doc == NULL)
    return KF_OK; /* Nothing a browser would show. */
  xmlNode *root = xmlDocGetRootElement(doc);
  kf_rc rc = root != NULL ? kh_html_node_text(root, out) : KF_OK;
  xmlFreeDoc(doc);
  return rc;
}

/* Append {"text","href"} for every <a href> below n. */
static kf_rc kh_html_collect_links(const xmlNode *n, json_t *links, int depth) {
  kf_rc rc = KF_OK;
  for (; n != NULL && rc == KF_OK && depth <= 256; n = n->next) {
    if (n->type != XML_ELEMENT_NODE || kh_html_hidden(n))
      continue;
    xmlChar *href = xmlStrcasecmp(n->name, (const xmlChar *)"a") == 0
                        ? xmlGetProp(n, (const xmlChar *)"href")
                        : NULL;
    if (href != NULL) {
      kf_buf text;
      kf_buf_init(&text, KH_HTML_MAX);
      rc = kh_html_node_text(n->children, &text);
      /* A link's text is read on one line. */
      for (size_t i = 0; i < text.len; i++)
        if (text.data[i] == '\n')
          text.data[i] = ' ';
      json_t *link =
          rc == KF_OK
              ? json_pack("{s:o, s:o}", "text", kh_text_json_string(text.data, text.len), "href",
                          kh_text_json_string((const char *)href, strlen((const char *)href)))
              : NULL;
      if (rc == KF_OK && (link == NULL || json_array_append_new(links, link) != 0))
        rc = KF_ERR_NOMEM;
      kf_buf_release(&text);
      xmlFree(href);
    }
    if (rc == KF_OK)
      rc = kh_html_collect_links(n->children, links, depth + 1);
  }
  return rc;
}

kf_rc kh_html_links(const char *html, size_t len, json_t **out) {
  *out = json_array();
  if (*out == NULL)
    return KF_ERR_NOMEM;
  htmlDocPtr doc = kh_html_read(html, len);
  if (doc == NULL)
    return KF_OK;
  kf_rc rc = kh_html_collect_links(xmlDocGetRootElement(doc), *out, 0);
  xmlFreeDoc(doc);
  if (rc != KF_OK) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}
