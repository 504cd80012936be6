/* The replay's input: one JSON object a line, each a session event.
 *
 *   {"t":T,"ev":"start","proto":"tcp"|"udp","id":ID,"resource":N,"src":ADDR,"dst":ADDR}
 *   {"t":T,"ev":"bytes","id":ID,"tx":N,"rx":N}
 *   {"t":T,"ev":"end","id":ID}
 *   {"t":T,"ev":"packet","resource":N,"src":ADDR,"dst":ADDR,"tx":N,"rx":N[,"id":ID]}
 *
 * T is seconds since the epoch (a number, fractions to the nanosecond) or
 * an RFC 3339 time ("2026-11-27T10:00:00.5Z", or with an offset). ADDR is
 * "ip:port" or "[ipv6]:port". proto defaults to tcp, resource, tx and rx
 * to 0. Other keys are ignored. */
#include <stdlib.h>
#include <string.h>

#include "events.h"

static int bad(char *err, size_t errlen, const char *fmt, const char *key) {
  snprintf(err, errlen, fmt, key);
  return -1;
}

/* Digits of s[0..n) as an unsigned value; -1 if not all digits. */
static int64_t digits(const char *s, size_t n) {
  int64_t v = 0;
  if (n == 0 || n > 18) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Nanoseconds of a fraction ".123" (up to 9 digits) at s; its length in *n. */
static int64_t fraction(const char *s, size_t avail, size_t *n) {
  *n = 0;
  if (avail == 0 || s[0] != '.') return 0;
  size_t k = 1;
  int64_t ns = 0, scale = 100000000;
  while (k < avail && s[k] >= '0' && s[k] <= '9') {
    if (k > 9) return -1;
    ns += (s[k] - '0') * scale;
    scale /= 10;
    k++;
  }
  if (k == 1) return -1;
  *n = k;
  return ns;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* "2026-11-27T10:00:00[.fff]Z" or with "+hh:mm" / "-hh:mm". */
static int rfc3339(const char *s, size_t n, uint64_t *out) {
  if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':')
    return -1;
  int64_t y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
          mi = digits(s + 14, 2), sec = digits(s + 17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  size_t fl;
  int64_t ns = fraction(s + 19, n - 19, &fl);
  if (ns < 0) return -1;
  const char *z = s + 19 + fl;
  size_t zn = n - 19 - fl;
  int64_t offset = 0;
  if (zn == 1 && (*z == 'Z' || *z == 'z')) {
    offset = 0;
  } else if (zn == 6 && (*z == '+' || *z == '-') && z[3] == ':') {
    int64_t oh = digits(z + 1, 2), om = digits(z + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return -1;
    offset = (*z == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return -1;
  }
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  if (t < 0) return -1;
  *out = (uint64_t)t * 1000000000u + (uint64_t)ns;
  return 0;
}

/* Seconds as a JSON number, read from its text so that nanoseconds
 * survive (a double holds only microseconds at today's epoch values). */
static int seconds(const json_value *v, uint64_t *out) {
  const char *s = v->raw, *dot = memchr(s, '.', v->rawlen);
  size_t ilen = dot ? (size_t)(dot - s) : v->rawlen;
  int64_t whole = digits(s, ilen);
  if (whole >= 0) {
    size_t fl;
    int64_t ns = fraction(s + ilen, v->rawlen - ilen, &fl);
    if (ns >= 0 && ilen + fl == v->rawlen) {
      *out = (uint64_t)whole * 1000000000u + (uint64_t)ns;
      return 0;
    }
  }
  if (!(v->number >= 0 && v->number < 1e11)) return -1; /* exponent forms, within reason */
  *out = (uint64_t)(v->number * 1e9);
  return 0;
}

static int integer(const json_value *obj, const char *key, int64_t min, int64_t dflt,
                   int64_t *out, char *err, size_t errlen) {
  const json_value *v = json_get(obj, key);
  if (v == NULL) {
    *out = dflt;
    return 0;
  }
  if (v->type != JSON_NUMBER || memchr(v->raw, '.', v->rawlen) || memchr(v->raw, 'e', v->rawlen) ||
      memchr(v->raw, 'E', v->rawlen) || v->number < (double)min || v->number > 9e18)
    return bad(err, errlen, min < 0 ? "\"%s\" must be an integer" : "\"%s\" must be a non-negative integer", key);
  *out = strtoll(v->raw, NULL, 10);
  return 0;
}

static int address(const json_value *obj, const char *key, struct sockaddr_storage *out, char *err,
                   size_t errlen) {
  const json_value *v = json_get(obj, key);
  if (v == NULL) return bad(err, errlen, "\"%s\" is missing", key);
  if (v->type != JSON_STRING || cli_parse_addr(v->string, out) != 0)
    return bad(err, errlen, "\"%s\" must be \"ip:port\" or \"[ipv6]:port\"", key);
  return 0;
}

int cli_event_parse(const json_value *obj, cli_event *ev, char *err, size_t errlen) {
  memset(ev, 0, sizeof(*ev));
  if (obj->type != JSON_OBJECT) {
    snprintf(err, errlen, "an event must be a JSON object, not %s", json_type_name(obj->type));
    return -1;
  }
  const json_value *t = json_get(obj, "t"), *kind = json_get(obj, "ev"), *id = json_get(obj, "id"),
                   *proto = json_get(obj, "proto");
  if (t == NULL) return bad(err, errlen, "\"%s\" (the time) is missing", "t");
  if ((t->type == JSON_NUMBER && seconds(t, &ev->t_ns) != 0) ||
      (t->type == JSON_STRING && rfc3339(t->string, t->len, &ev->t_ns) != 0) ||
      (t->type != JSON_NUMBER && t->type != JSON_STRING))
    return bad(err, errlen, "\"%s\" must be seconds since the epoch or an RFC 3339 time", "t");
  static const char *kinds[] = {"start", "bytes", "end", "packet"};
  ev->kind = -1;
  for (int i = 0; kind && kind->type == JSON_STRING && i < 4; i++)
    if (strcmp(kind->string, kinds[i]) == 0) ev->kind = (cli_event_kind)i;
  if ((int)ev->kind < 0) return bad(err, errlen, "\"%s\" must be start, bytes, end or packet", "ev");
  if (id && id->type != JSON_STRING) return bad(err, errlen, "\"%s\" must be a string", "id");
  ev->id = id ? id->string : NULL;
  if (ev->id == NULL && ev->kind != EV_PACKET) return bad(err, errlen, "\"%s\" is missing", "id");
  ev->udp = ev->kind == EV_PACKET;
  if (proto && ev->kind == EV_START) {
    if (proto->type != JSON_STRING || (strcmp(proto->string, "tcp") && strcmp(proto->string, "udp")))
      return bad(err, errlen, "\"%s\" must be tcp or udp", "proto");
    ev->udp = proto->string[0] == 'u';
  }
  int64_t tx, rx;
  if (integer(obj, "tx", 0, 0, &tx, err, errlen) || integer(obj, "rx", 0, 0, &rx, err, errlen))
    return -1;
  ev->tx = (uint64_t)tx;
  ev->rx = (uint64_t)rx;
  if (ev->kind == EV_START || ev->kind == EV_PACKET) {
    if (integer(obj, "resource", INT64_MIN, 0, &ev->resource, err, errlen) ||
        address(obj, "src", &ev->src, err, errlen) || address(obj, "dst", &ev->dst, err, errlen))
      return -1;
  }
  return 0;
}
