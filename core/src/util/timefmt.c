#include "util/timefmt.h"

#include <string.h>

/* Civil date of a day count since 1970-01-01 (proleptic Gregorian), by
 * splitting time into 400-year eras of 146097 days that start on March 1. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d) {
  days += 719468; /* shift the epoch to 0000-03-01 */
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  unsigned doe = (unsigned)(days - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v) {
  p[0] = (char)('0' + v / 10);
  p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS" (19 bytes) for the second of unix_ns. Records
 * come in bursts within the same second: the last text is kept. */
static size_t put_datetime(uint64_t unix_ns, char *out) {
  static _Thread_local uint64_t last_secs = UINT64_MAX;
  static _Thread_local char last[19];
  uint64_t secs = unix_ns / 1000000000u;
  if (secs == last_secs) {
    memcpy(out, last, 19);
    return 19;
  }
  int64_t days = (int64_t)(secs / 86400);
  unsigned sod = (unsigned)(secs % 86400);
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  unsigned yy = (unsigned)(y % 10000);
  put2(out, yy / 100);
  put2(out + 2, yy % 100);
  out[4] = '-';
  put2(out + 5, m);
  out[7] = '-';
  put2(out + 8, d);
  out[10] = 'T';
  put2(out + 11, sod / 3600);
  out[13] = ':';
  put2(out + 14, sod / 60 % 60);
  out[16] = ':';
  put2(out + 17, sod % 60);
  memcpy(last, out, 19);
  last_secs = secs;
  return 19;
}

/* ".ddd" of `frac` as a `digits`-digit fraction, trailing zeros trimmed;
 * nothing when frac is 0. Returns the length written. */
static size_t put_fraction(char *out, uint64_t frac, int digits) {
  if (frac == 0) return 0;
  while (frac % 10 == 0) {
    frac /= 10;
    digits--;
  }
  out[0] = '.';
  for (int i = digits; i >= 1; i--) {
    out[i] = (char)('0' + frac % 10);
    frac /= 10;
  }
  return (size_t)digits + 1;
}

size_t gl_fmt_time_nano(uint64_t unix_ns, char out[GL_TIME_STRLEN]) {
  size_t n = put_datetime(unix_ns, out);
  n += put_fraction(out + n, unix_ns % 1000000000u, 9);
  out[n++] = 'Z';
  out[n] = '\0';
  return n;
}

size_t gl_fmt_time_sec(uint64_t unix_ns, char out[GL_TIME_STRLEN]) {
  size_t n = put_datetime(unix_ns, out);
  out[n++] = 'Z';
  out[n] = '\0';
  return n;
}

static size_t put_uint(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

size_t gl_fmt_duration(int64_t ns, char out[GL_DURATION_STRLEN]) {
  size_t n = 0;
  uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  if (ns < 0) out[n++] = '-';
  if (u == 0) {
    memcpy(out, "0s", 3);
    return 2;
  }
  if (u < 1000000000u) {
    const char *unit;
    uint64_t scale;
    int digits;
    if (u < 1000u) {
      unit = "ns", scale = 1, digits = 0;
    } else if (u < 1000000u) {
      unit = "\xc2\xb5s", scale = 1000, digits = 3; /* U+00B5, as Go */
    } else {
      unit = "ms", scale = 1000000, digits = 6;
    }
    n += put_uint(out + n, u / scale);
    if (digits) n += put_fraction(out + n, u % scale, digits);
    size_t ul = strlen(unit);
    memcpy(out + n, unit, ul + 1);
    return n + ul;
  }
  uint64_t secs = u / 1000000000u;
  uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
  if (h) {
    n += put_uint(out + n, h);
    out[n++] = 'h';
  }
  if (h || m) {
    n += put_uint(out + n, m);
    out[n++] = 'm';
  }
  n += put_uint(out + n, s);
  n += put_fraction(out + n, u % 1000000000u, 9);
  out[n++] = 's';
  out[n] = '\0';
  return n;
}
