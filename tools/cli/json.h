/* A small strict JSON reader (RFC 8259) for the command-line tool: the
 * replay's events and the records inside payloads. It builds a tree in
 * which every value keeps its span of the source text, so that printing
 * a record again writes its numbers and strings exactly as the core wrote
 * them (no float reformatting, no re-escaping). */
#ifndef GATELOG_CLI_JSON_H
#define GATELOG_CLI_JSON_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
  JSON_NULL,
  JSON_FALSE,
  JSON_TRUE,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} json_type;

typedef struct json_value {
  json_type type;
  const char *raw; /* this value's text in the source (not NUL-terminated) */
  size_t rawlen;
  double number;   /* JSON_NUMBER */
  char *string;    /* JSON_STRING: decoded, NUL-terminated */
  size_t len;      /* its length (it may hold NUL bytes from \u0000) */
  char *key;       /* a member of an object: its decoded name */
  const char *keyraw; /* and its text in the source, quotes included */
  size_t keyrawlen;
  struct json_value *child, *next; /* first element or member; next sibling */
} json_value;

/* Parse exactly one value (whitespace around it allowed) from text[0..len),
 * of at most values_max values (0: no limit) nested at most 512 deep.
 * On error returns NULL and writes "line L, column C: what" to err. The
 * tree points into `text`, which must outlive it. */
json_value *json_parse(const char *text, size_t len, size_t values_max, char *err, size_t errlen);
void json_free(json_value *v);

/* The member `key` of an object, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
const char *json_type_name(json_type t);

/* Print v: compact (one line) or indented by two spaces. */
void json_print(FILE *out, const json_value *v, int pretty);

#endif
