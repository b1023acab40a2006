/*
 * kh_intern.c: a counted table of immutable strings, each distinct content
 * once (see kh_intern.h).
 *
 * A string lives in a chunk as its length (4 bytes, unaligned), its bytes
 * and a NUL; the pointer handed out is the first byte. Chunks are never
 * moved or freed before the table, so the pointers stay valid. The hash set
 * is open addressing with linear probing over those pointers, and reads a
 * stored string's length from the 4 bytes in front of it.
 */
#include "kh_intern.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/alloc.h"

/* Chunks start small (a one-file table in a test) and double up to this size. */
#define KH_INTERN_FIRST_CHUNK 1024u
#define KH_INTERN_BIG_CHUNK (64u * 1024u)
#define KH_INTERN_FIRST_SLOTS 64u

typedef struct kh_intern_chunk {
  struct kh_intern_chunk *next;
  size_t size;
  size_t used;
  char data[];
} kh_intern_chunk;

struct kh_intern {
  atomic_uint refs;        /* Files of one suite may be freed on different threads. */
  kh_intern_chunk *chunks; /* The first one is the one being filled. */
  size_t next_chunk;       /* The size of the next ordinary chunk. */
  size_t chunk_bytes;
  const char **slots; /* cap entries, NULL where free. */
  size_t cap;         /* A power of two, or 0. */
  size_t count;
};

kf_rc kh_intern_new(kh_intern **out) {
  assert(out != NULL);
  *out = kf_calloc(1, sizeof **out);
  if (*out == NULL)
    return KF_ERR_NOMEM;
  atomic_init(&(*out)->refs, 1);
  (*out)->next_chunk = KH_INTERN_FIRST_CHUNK;
  return KF_OK;
}

kh_intern *kh_intern_ref(kh_intern *t) {
  assert(t != NULL && atomic_load(&t->refs) > 0);
  atomic_fetch_add(&t->refs, 1);
  return t;
}

void kh_intern_unref(kh_intern *t) {
  if (t == NULL)
    return;
  unsigned before = atomic_fetch_sub(&t->refs, 1);
  assert(before > 0);
  if (before > 1)
    return;
  kh_intern_chunk *c = t->chunks;
  while (c != NULL) {
    kh_intern_chunk *next = c->next;
    kf_free(c);
    c = next;
  }
  kf_free(t->slots);
  kf_free(t);
}

size_t kh_intern_count(const kh_intern *t) {
  return t->count;
}

size_t kh_intern_chunk_bytes(const kh_intern *t) {
  return t->chunk_bytes;
}

/* FNV-1a, 64 bits. */
static uint64_t kh_intern_hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static size_t kh_intern_len(const char *stored) {
  uint32_t n;
  memcpy(&n, stored - sizeof n, sizeof n);
  return n;
}

/* The slot holding s (len bytes), or the free slot where it belongs. */
static size_t kh_intern_find(const kh_intern *t, const char *s, size_t len, uint64_t h) {
  size_t mask = t->cap - 1;
  size_t i = (size_t)h & mask;
  while (t->slots[i] != NULL) {
    const char *x = t->slots[i];
    if (kh_intern_len(x) == len && memcmp(x, s, len) == 0)
      return i;
    i = (i + 1) & mask;
  }
  return i;
}

/* Room for one more string below a load of 3/4. */
static kf_rc kh_intern_grow(kh_intern *t) {
  if (t->cap > 0 && (t->count + 1) * 4 <= t->cap * 3)
    return KF_OK;
  if (t->count >= KH_INTERN_MAX_STRINGS)
    return KF_ERR_LIMIT;
  size_t ncap = t->cap == 0 ? KH_INTERN_FIRST_SLOTS : t->cap * 2;
  const char **slots = kf_calloc(ncap, sizeof *slots);
  if (slots == NULL)
    return KF_ERR_NOMEM;
  kh_intern old = *t;
  t->slots = slots;
  t->cap = ncap;
  for (size_t i = 0; i < old.cap; i++) {
    const char *x = old.slots[i];
    if (x == NULL)
      continue;
    size_t len = kh_intern_len(x);
    t->slots[kh_intern_find(t, x, len, kh_intern_hash(x, len))] = x;
  }
  kf_free(old.slots);
  return KF_OK;
}

/* need bytes in a chunk: the current one, a new ordinary one, or one of its own if large. */
static char *kh_intern_room(kh_intern *t, size_t need) {
  kh_intern_chunk *cur = t->chunks;
  if (cur != NULL && cur->size - cur->used >= need) {
    char *at = cur->data + cur->used;
    cur->used += need;
    return at;
  }
  /* A large string gets a chunk of its own, behind the one being filled. */
  bool own = need > KH_INTERN_BIG_CHUNK / 4;
  size_t size = own ? need : t->next_chunk;
  while (size < need)
    size *= 2;
  kh_intern_chunk *c = kf_malloc(sizeof *c + size);
  if (c == NULL)
    return NULL;
  c->size = size;
  c->used = need;
  t->chunk_bytes += size;
  if (own && cur != NULL) {
    c->next = cur->next;
    cur->next = c;
  } else {
    c->next = cur;
    t->chunks = c;
    if (!own && t->next_chunk < KH_INTERN_BIG_CHUNK)
      t->next_chunk *= 2;
  }
  return c->data;
}

kf_rc kh_intern_get(kh_intern *t, const char *s, size_t len, const char **out) {
  assert(t != NULL && out != NULL && (s != NULL || len == 0));
  if (len > KH_INTERN_MAX_LEN)
    return KF_ERR_LIMIT;
  if (s == NULL)
    s = "";
  uint64_t h = kh_intern_hash(s, len);
  if (t->cap > 0) {
    size_t i = kh_intern_find(t, s, len, h);
    if (t->slots[i] != NULL) {
      *out = t->slots[i];
      return KF_OK;
    }
  }
  kf_rc rc = kh_intern_grow(t);
  if (rc != KF_OK)
    return rc;
  uint32_t n = (uint32_t)len;
  char *at = kh_intern_room(t, sizeof n + len + 1);
  if (at == NULL)
    return KF_ERR_NOMEM;
  memcpy(at, &n, sizeof n);
  char *str = at + sizeof n;
  if (len > 0)
    memcpy(str, s, len);
  str[len] = '\0';
  t->slots[kh_intern_find(t, str, len, h)] = str;
  t->count++;
  *out = str;
  return KF_OK;
}
