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
 * to 0. Other keys are ignored.
 *
 * Bounds (cli.h): T from the epoch to before 2200 (nanoseconds and the
 * core's clock arithmetic, a year's timeout on top, stay far inside 64
 * bits), tx and rx at most 2^53 - 1, resource any 64-bit integer. */
#include <errno.h>
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

static int days_in_month(int64_t y, int64_t m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return days[m - 1] + (m == 2 && leap);
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* What a time that does not parse, or is out of range, returns. */
enum { T_FORMAT = -1, T_RANGE = -2 };

/* "2026-11-27T10:00:00[.fff]Z" or with "+hh:mm" / "-hh:mm". */
static int rfc3339(const char *s, size_t n, uint64_t *out) {
  if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':')
    return T_FORMAT;
  int64_t y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
          mi = digits(s + 14, 2), sec = digits(s + 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
      mi < 0 || mi > 59 || sec < 0 || sec > 60)
    return T_FORMAT;
  size_t fl;
  int64_t ns = fraction(s + 19, n - 19, &fl);
  if (ns < 0) return T_FORMAT;
  const char *z = s + 19 + fl;
  size_t zn = n - 19 - fl;
  int64_t offset = 0;
  if (zn == 1 && (*z == 'Z' || *z == 'z')) {
    offset = 0;
  } else if (zn == 6 && (*z == '+' || *z == '-') && z[3] == ':') {
    int64_t oh = digits(z + 1, 2), om = digits(z + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return T_FORMAT;
    offset = (*z == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return T_FORMAT;
  }
  /* Four digits of year: no overflow below; the range is the event's. */
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  if (t < 0 || (uint64_t)t >= CLI_T_END_S) return T_RANGE;
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
      if ((uint64_t)whole >= CLI_T_END_S) return T_RANGE;
      *out = (uint64_t)whole * 1000000000u + (uint64_t)ns;
      return 0;
    }
  }
  /* Other forms (an exponent, more than nine decimals, a sign) by value. */
  if (!(v->number >= 0 && v->number < (double)CLI_T_END_S)) return T_RANGE;
  *out = (uint64_t)(v->number * 1e9);
  return 0;
}

/* The member `key`, an integer written as one (no fraction, no exponent)
 * from min to max; dflt when it is absent. */
static int integer(const json_value *obj, const char *key, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out, char *err, size_t errlen) {
  const json_value *v = json_get(obj, key);
  char text[32], *end;
  if (v == NULL) {
    *out = dflt;
    return 0;
  }
  long long n = 0;
  if (v->type == JSON_NUMBER && v->rawlen < sizeof(text)) {
    memcpy(text, v->raw, v->rawlen);
    text[v->rawlen] = '\0';
    errno = 0;
    n = strtoll(text, &end, 10);
    if (end == text + v->rawlen && errno == 0 && n >= min && n <= max) {
      *out = n;
      return 0;
    }
  }
  snprintf(err, errlen, "\"%s\" must be an integer from %lld to %lld", key, (long long)min,
           (long long)max);
  return -1;
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
  int trc = t->type == JSON_NUMBER   ? seconds(t, &ev->t_ns)
            : t->type == JSON_STRING ? rfc3339(t->string, t->len, &ev->t_ns)
                                     : T_FORMAT;
  if (trc == T_RANGE)
    return bad(err, errlen, "\"%s\" must be from 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z", "t");
  if (trc != 0)
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
  if (integer(obj, "tx", 0, CLI_BYTES_MAX, 0, &tx, err, errlen) ||
      integer(obj, "rx", 0, CLI_BYTES_MAX, 0, &rx, err, errlen))
    return -1;
  ev->tx = (uint64_t)tx;
  ev->rx = (uint64_t)rx;
  if (ev->kind == EV_START || ev->kind == EV_PACKET) {
    if (integer(obj, "resource", INT64_MIN, INT64_MAX, 0, &ev->resource, err, errlen) ||
        address(obj, "src", &ev->src, err, errlen) || address(obj, "dst", &ev->dst, err, errlen))
      return -1;
  }
  return 0;
}
