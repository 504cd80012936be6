#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512

typedef struct parser {
  const char *s, *end, *start;
  char *err;
  size_t errlen;
  int failed;
  size_t values, values_max; /* made so far; at most (0: no limit) */
} parser;

static void fail(parser *p, const char *at, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = 1;
  int line = 1, col = 1;
  for (const char *c = p->start; c < at && c < p->end; c++) {
    if (*c == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  int n = snprintf(p->err, p->errlen, "line %d, column %d: ", line, col);
  if (n < 0 || (size_t)n >= p->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
  va_end(ap);
}

static void skip_ws(parser *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
    p->s++;
}

static const char *what(parser *p) {
  static char buf[32];
  if (p->s >= p->end) return "the end of the input";
  unsigned char c = (unsigned char)*p->s;
  if (c >= 0x20 && c < 0x7f) snprintf(buf, sizeof(buf), "'%c'", c);
  else snprintf(buf, sizeof(buf), "byte 0x%02x", c);
  return buf;
}

static int is_digit(parser *p) { return p->s < p->end && *p->s >= '0' && *p->s <= '9'; }

static void number(parser *p, json_value *v) {
  const char *b = p->s;
  if (p->s < p->end && *p->s == '-') p->s++;
  if (!is_digit(p)) return fail(p, p->s, "expected a digit, found %s", what(p));
  if (*p->s == '0') p->s++;
  else
    while (is_digit(p)) p->s++;
  if (p->s < p->end && *p->s == '.') {
    p->s++;
    if (!is_digit(p)) return fail(p, p->s, "expected a digit after '.', found %s", what(p));
    while (is_digit(p)) p->s++;
  }
  if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
    p->s++;
    if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
    if (!is_digit(p)) return fail(p, p->s, "expected a digit in the exponent, found %s", what(p));
    while (is_digit(p)) p->s++;
  }
  char tmp[64];
  size_t n = (size_t)(p->s - b);
  if (n >= sizeof(tmp)) n = sizeof(tmp) - 1; /* only the double loses digits */
  memcpy(tmp, b, n);
  tmp[n] = '\0';
  v->type = JSON_NUMBER;
  v->number = strtod(tmp, NULL);
}

static int hex4(parser *p, unsigned *out) {
  if (p->end - p->s < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p->s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  p->s += 4;
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Length of the valid UTF-8 sequence at s (no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end) {
  unsigned c = s[0], need, min, cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) need = 1, min = 0x80, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0) need = 2, min = 0x800, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0) need = 3, min = 0x10000, cp = c & 0x07;
  else return 0;
  if ((size_t)(end - s) <= need) return 0;
  for (unsigned i = 1; i <= need; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return need + 1;
}

/* A string at p->s (the opening quote); decoded into a new buffer. */
static char *string(parser *p, size_t *len) {
  const char *q = ++p->s;
  /* Decoded text is never longer than its source. */
  char *out = malloc((size_t)(p->end - q) + 1), *o = out;
  if (out == NULL) {
    fail(p, q, "out of memory");
    return NULL;
  }
  while (p->s < p->end && *p->s != '"') {
    unsigned char c = (unsigned char)*p->s;
    if (c < 0x20) {
      fail(p, p->s, "a control character (0x%02x) in a string must be escaped", c);
      break;
    }
    if (c != '\\') {
      size_t n = utf8_len((const unsigned char *)p->s, (const unsigned char *)p->end);
      if (n == 0) {
        fail(p, p->s, "invalid UTF-8 in a string");
        break;
      }
      memcpy(o, p->s, n);
      o += n;
      p->s += n;
      continue;
    }
    const char *esc = p->s++;
    char e = p->s < p->end ? *p->s++ : '\0';
    char simple = e == '"' || e == '\\' || e == '/' ? e
                  : e == 'b'                        ? '\b'
                  : e == 'f'                        ? '\f'
                  : e == 'n'                        ? '\n'
                  : e == 'r'                        ? '\r'
                  : e == 't'                        ? '\t'
                                                    : 0;
    if (simple) {
      *o++ = simple;
    } else if (e == 'u') {
      unsigned cp, lo;
      if (hex4(p, &cp)) {
        fail(p, esc, "\\u needs four hex digits");
        break;
      }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' || (p->s += 2, hex4(p, &lo)) ||
            lo < 0xdc00 || lo > 0xdfff) {
          fail(p, esc, "a high surrogate without its low surrogate");
          break;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        fail(p, esc, "a low surrogate without its high surrogate");
        break;
      }
      o += put_utf8(o, cp);
    } else {
      fail(p, esc, "unknown escape '\\%c'", e ? e : '?');
      break;
    }
  }
  if (!p->failed && p->s >= p->end) fail(p, q - 1, "a string that does not end");
  if (p->failed) {
    free(out);
    return NULL;
  }
  p->s++; /* the closing quote */
  *o = '\0';
  *len = (size_t)(o - out);
  return out;
}

static int literal(parser *p, const char *word, json_type t, json_value *v) {
  size_t n = strlen(word);
  if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return 0;
  p->s += n;
  v->type = t;
  return 1;
}

static json_value *value(parser *p, int depth);

/* The elements of an array or the members of an object, after the '['
 * or '{'. */
static void items(parser *p, json_value *v, int object, int depth) {
  char close = object ? '}' : ']';
  json_value **tail = &v->child;
  skip_ws(p);
  if (p->s < p->end && *p->s == close) {
    p->s++;
    return;
  }
  for (;;) {
    char *key = NULL;
    const char *keyraw = NULL;
    size_t keylen;
    if (object) {
      skip_ws(p);
      if (p->s >= p->end || *p->s != '"')
        return fail(p, p->s, "expected a member name in double quotes, found %s", what(p));
      keyraw = p->s;
      if ((key = string(p, &keylen)) == NULL) return;
      keylen = (size_t)(p->s - keyraw);
      skip_ws(p);
      if (p->s >= p->end || *p->s != ':') {
        free(key);
        return fail(p, p->s, "expected ':' after a member name, found %s", what(p));
      }
      p->s++;
    }
    json_value *item = value(p, depth + 1);
    if (item == NULL) {
      free(key);
      return;
    }
    item->key = key;
    item->keyraw = keyraw;
    item->keyrawlen = keylen;
    *tail = item;
    tail = &item->next;
    skip_ws(p);
    if (p->s < p->end && *p->s == ',') {
      p->s++;
      continue;
    }
    if (p->s < p->end && *p->s == close) {
      p->s++;
      return;
    }
    return fail(p, p->s, "expected ',' or '%c', found %s", close, what(p));
  }
}

static json_value *value(parser *p, int depth) {
  skip_ws(p);
  if (depth > MAX_DEPTH) {
    fail(p, p->s, "nested more than %d deep", MAX_DEPTH);
    return NULL;
  }
  /* Each value costs a node many times the size of its shortest text. */
  if (p->values_max && p->values++ == p->values_max) {
    fail(p, p->s, "more than %zu values", p->values_max);
    return NULL;
  }
  json_value *v = calloc(1, sizeof(*v));
  if (v == NULL) {
    fail(p, p->s, "out of memory");
    return NULL;
  }
  v->raw = p->s;
  char c = p->s < p->end ? *p->s : '\0';
  if (c == '{' || c == '[') {
    p->s++;
    v->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
    items(p, v, c == '{', depth);
  } else if (c == '"') {
    v->type = JSON_STRING;
    v->string = string(p, &v->len);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    number(p, v);
  } else if (!literal(p, "true", JSON_TRUE, v) && !literal(p, "false", JSON_FALSE, v) &&
             !literal(p, "null", JSON_NULL, v)) {
    fail(p, p->s, "expected a value, found %s", what(p));
  }
  if (p->failed) {
    json_free(v);
    return NULL;
  }
  v->rawlen = (size_t)(p->s - v->raw);
  return v;
}

json_value *json_parse(const char *text, size_t len, size_t values_max, char *err, size_t errlen) {
  parser p = {text, text + len, text, err, errlen, 0, 0, values_max};
  json_value *v = value(&p, 0);
  if (v == NULL) return NULL;
  skip_ws(&p);
  if (p.s < p.end) {
    fail(&p, p.s, "unexpected %s after the value", what(&p));
    json_free(v);
    return NULL;
  }
  return v;
}

void json_free(json_value *v) {
  while (v) {
    json_value *next = v->next;
    json_free(v->child);
    free(v->string);
    free(v->key);
    free(v);
    v = next;
  }
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (obj == NULL || obj->type != JSON_OBJECT) return NULL;
  for (const json_value *m = obj->child; m; m = m->next)
    if (strcmp(m->key, key) == 0) return m;
  return NULL;
}

const char *json_type_name(json_type t) {
  static const char *names[] = {"null", "false", "true", "a number", "a string", "an array",
                                "an object"};
  return names[t];
}

static void indent(FILE *out, int pretty, int depth) {
  if (!pretty) return;
  fputc('\n', out);
  for (int i = 0; i < depth; i++) fputs("  ", out);
}

static void print(FILE *out, const json_value *v, int pretty, int depth) {
  if (v->type != JSON_ARRAY && v->type != JSON_OBJECT) {
    fwrite(v->raw, 1, v->rawlen, out);
    return;
  }
  int object = v->type == JSON_OBJECT;
  fputc(object ? '{' : '[', out);
  for (const json_value *c = v->child; c; c = c->next) {
    indent(out, pretty, depth + 1);
    if (object) {
      fwrite(c->keyraw, 1, c->keyrawlen, out);
      fputs(pretty ? ": " : ":", out);
    }
    print(out, c, pretty, depth + 1);
    if (c->next) fputc(',', out);
  }
  if (v->child) indent(out, pretty, depth);
  fputc(object ? '}' : ']', out);
}

void json_print(FILE *out, const json_value *v, int pretty) { print(out, v, pretty, 0); }
