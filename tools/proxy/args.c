/* The command line of gatelog-proxy. Everything that can be wrong in it is
 * found here, before any socket is opened, so that bad input gives one
 * line and exit code 2. */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "tool.h"

void px_usage(FILE *out) {
  fputs(
      "usage: gatelog-proxy --script PATH --listen SPEC [--listen SPEC]...\n"
      "                     [--metrics HOST:PORT] [--drain SECONDS]\n"
      "                     [--connect-timeout SECONDS] [--log-level LEVEL]\n"
      "                     [--lua-path TEMPLATES] [--spool DIR [--spool-max-bytes N]]\n"
      "                     [--sender NAME=URL | --sender NAME=file:PATH]...\n"
      "\n"
      "A TCP and UDP forwarder that logs every session through gatelog.\n"
      "\n"
      "  --script PATH           the policy script (required)\n"
      "  --listen SPEC           PROTO:HOST:PORT=UPSTREAM_HOST:UPSTREAM_PORT[,resource=N]\n"
      "                          PROTO is tcp or udp; IPv6 hosts in brackets; PORT 0\n"
      "                          picks a free port (logged); resource defaults to 0\n"
      "  --metrics HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics\n"
      "  --drain SECONDS         on SIGTERM/SIGINT, deliver records for up to this\n"
      "                          long (default 5)\n"
      "  --connect-timeout SECONDS  give up on an upstream after this (default 10)\n"
      "  --log-level LEVEL       error, warn, info (default) or debug\n"
      "  --lua-path TEMPLATES    extra package.path templates for the script\n"
      "  --spool DIR             write every batch to a disk spool in DIR before it is\n"
      "                          sent: a crash or a stop with the sink down loses\n"
      "                          nothing; what is left is sent at the next start\n"
      "  --spool-max-bytes N     disk the spool may use (default 1 GiB); past it the\n"
      "                          oldest batches are dropped\n"
      "  --sender NAME=URL       a host sender NAME for the script (scripts/newt.lua\n"
      "                          calls \"control\"): each payload POSTed to URL (http or\n"
      "                          https) in the reference's control-plane message\n"
      "                          {\"type\":\"newt/access-log\",\"data\":{\"compressed\":...}}\n"
      "  --sender NAME=file:PATH the same message appended to PATH, a line each\n"
      "                          (a script that calls a sender not given fails at start)\n"
      "  --help, --version\n"
      "\n"
      "Signals: SIGHUP reloads the script; SIGTERM and SIGINT stop accepting, end\n"
      "open sessions (endReason \"shutdown\"), drain and exit.\n"
      "Exit status: 0 after a clean stop (with --spool, also when batches wait in\n"
      "the spool for the next start), 1 if records were lost at the stop,\n"
      "2 for bad input (nothing was started).\n",
      out);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

void px_format_addr(const struct sockaddr *sa, char *out, size_t len) {
  char ip[64] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
    snprintf(out, len, "[%s]:%d", ip, port);
    return;
  }
  const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
  uv_ip4_name(a, ip, sizeof(ip));
  snprintf(out, len, "%s:%d", ip, ntohs(a->sin_port));
}

int px_bind_error(const px_listen_spec *spec, int rc, char *err, size_t errlen) {
  snprintf(err, errlen, "--listen %s:%s:%d: %s", spec->proto == PX_TCP ? "tcp" : "udp",
           spec->host, spec->port, uv_strerror(rc));
  return rc;
}

/* "host:port" or "[v6]:port", taking exactly n bytes of s. */
static int split_hostport(const char *s, size_t n, char *host, int *port, int allow_zero) {
  const char *colon, *hstart = s;
  size_t hlen;
  if (n > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (close == NULL || close + 1 >= s + n || close[1] != ':') return -1;
    hstart = s + 1;
    hlen = (size_t)(close - s - 1);
    colon = close + 1;
  } else {
    colon = NULL;
    for (size_t i = 0; i < n; i++)
      if (s[i] == ':') colon = s + i;
    if (colon == NULL) return -1;
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen)) return -1; /* a bare IPv6 address: needs brackets */
  }
  /* Measured before it is copied: host holds PX_HOST_MAX bytes. */
  if (hlen == 0 || hlen >= PX_HOST_MAX) return -1;
  memcpy(host, hstart, hlen);
  host[hlen] = '\0';
  const char *p = colon + 1, *end = s + n;
  if (p == end || end - p > 5) return -1;
  int v = 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  if (v > 65535 || (v == 0 && !allow_zero)) return -1;
  *port = v;
  return 0;
}

static int resolve(const char *host, int port, int proto, struct sockaddr_storage *out,
                   char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = proto == PX_TCP ? SOCK_STREAM : SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  char service[8];
  snprintf(service, sizeof(service), "%d", port);
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0 || res == NULL)
    return fail(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
  memset(out, 0, sizeof(*out));
  memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

/* The parameters after the upstream, ",resource=N", each at most once. */
static int parse_params(const char *s, const char *p, px_listen_spec *spec, char *err, size_t errlen,
                        const char *want) {
  int have_resource = 0;
  for (size_t n; p; p = p[n] == ',' ? p + n + 1 : NULL) {
    n = strcspn(p, ",");
    if (n == 0) return fail(err, errlen, "--listen '%s': an empty parameter (%s)", s, want);
    if (n < 9 || strncmp(p, "resource=", 9) != 0)
      return fail(err, errlen, "--listen '%s': unknown parameter '%.*s' (%s)", s, (int)n, p, want);
    if (have_resource++) return fail(err, errlen, "--listen '%s': resource is given twice", s);
    char digits[32], *end = digits;
    size_t dn = n - 9;
    errno = 0;
    long long v = 0;
    if (dn > 0 && dn < sizeof(digits)) {
      memcpy(digits, p + 9, dn);
      digits[dn] = '\0';
      v = strtoll(digits, &end, 10);
    }
    if (dn == 0 || dn >= sizeof(digits) || *end != '\0' || errno)
      return fail(err, errlen,
                  "--listen '%s': resource must be an integer from %lld to %lld", s,
                  (long long)INT64_MIN, (long long)INT64_MAX);
    spec->resource = v;
  }
  return 0;
}

int px_parse_listen(const char *s, px_listen_spec *spec, char *err, size_t errlen) {
  static const char *want =
      "want PROTO:HOST:PORT=UPSTREAM_HOST:UPSTREAM_PORT[,resource=N] with PROTO tcp or udp";
  memset(spec, 0, sizeof(*spec));
  if (strncmp(s, "tcp:", 4) == 0) spec->proto = PX_TCP;
  else if (strncmp(s, "udp:", 4) == 0) spec->proto = PX_UDP;
  else return fail(err, errlen, "--listen '%s': %s", s, want);
  const char *local = s + 4, *eq = strchr(local, '=');
  if (eq == NULL) return fail(err, errlen, "--listen '%s': no '=UPSTREAM' (%s)", s, want);
  if (split_hostport(local, (size_t)(eq - local), spec->host, &spec->port, 1))
    return fail(err, errlen, "--listen '%s': bad listen address (%s)", s, want);
  const char *up = eq + 1, *comma = strchr(up, ',');
  size_t uplen = comma ? (size_t)(comma - up) : strlen(up);
  if (split_hostport(up, uplen, spec->up_host, &spec->up_port, 0))
    return fail(err, errlen, "--listen '%s': bad upstream address (%s)", s, want);
  return parse_params(s, comma ? comma + 1 : NULL, spec, err, errlen, want);
}

static int parse_listen(const char *s, px_listen_spec *spec, char *err, size_t errlen) {
  if (px_parse_listen(s, spec, err, errlen)) return -1;
  if (resolve(spec->host, spec->port, spec->proto, &spec->addr, err, errlen) ||
      resolve(spec->up_host, spec->up_port, spec->proto, &spec->upstream, err, errlen)) {
    char why[256];
    snprintf(why, sizeof(why), "%s", err);
    return fail(err, errlen, "--listen '%s': %s", s, why);
  }
  return 0;
}

/* NAME=URL (http:// or https://) or NAME=file:PATH; a name once. */
static int parse_sender(const char *v, const px_options *opt, px_sender_spec *s, char *err,
                        size_t errlen) {
  static const char *want = "want NAME=http(s)://... or NAME=file:PATH";
  memset(s, 0, sizeof(*s));
  const char *eq = strchr(v, '=');
  size_t n = eq ? (size_t)(eq - v) : 0;
  if (n == 0 || n >= sizeof(s->name)) return fail(err, errlen, "--sender '%s': %s", v, want);
  for (size_t i = 0; i < n; i++)
    if (!(v[i] == '_' || v[i] == '-' || (v[i] >= 'a' && v[i] <= 'z') ||
          (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9')))
      return fail(err, errlen, "--sender '%s': NAME is letters, digits, '_' and '-'", v);
  memcpy(s->name, v, n);
  for (int i = 0; i < opt->nsenders; i++)
    if (strcmp(opt->senders[i].name, s->name) == 0)
      return fail(err, errlen, "--sender %s is given twice", s->name);
  const char *t = eq + 1;
  if (strncmp(t, "file:", 5) == 0 && t[5] != '\0') {
    s->is_file = 1;
    s->target = t + 5;
  } else if ((strncmp(t, "http://", 7) == 0 && t[7]) || (strncmp(t, "https://", 8) == 0 && t[8])) {
    s->target = t;
  } else {
    return fail(err, errlen, "--sender '%s': %s", v, want);
  }
  return 0;
}

static int seconds(const char *name, const char *v, double max, uint64_t *ms, char *err,
                   size_t errlen) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (*v == '\0' || *end != '\0' || errno || !(d >= 0 && d <= max))
    return fail(err, errlen, "%s '%s': want seconds from 0 to %g", name, v, max);
  *ms = (uint64_t)(d * 1000 + 0.5);
  return 0;
}

static int log_level(const char *v, int *out) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(v, names[i]) == 0) {
      *out = i; /* the GATELOG_LOG_* values, in this order */
      return 0;
    }
  return -1;
}

int px_parse_args(int argc, char **argv, px_options *opt, char *err, size_t errlen) {
  memset(opt, 0, sizeof(*opt));
  opt->drain_ms = 5000;
  opt->connect_timeout_ms = 10000;
  opt->log_level = GATELOG_LOG_INFO;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      px_usage(stdout);
      return 1;
    }
    if (strcmp(a, "--version") == 0) {
      printf("gatelog-proxy %d.%d.%d\n", GATELOG_VERSION_MAJOR, GATELOG_VERSION_MINOR,
             GATELOG_VERSION_PATCH);
      return 1;
    }
    /* --name=value or --name value */
    char name[32];
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    if (strncmp(a, "--", 2) != 0 || nlen >= sizeof(name))
      return fail(err, errlen, "unexpected argument '%s' (see --help)", a);
    memcpy(name, a, nlen);
    name[nlen] = '\0';
    if (eq) v = eq + 1;
    else if (i + 1 < argc) v = argv[++i];
    else return fail(err, errlen, "%s needs a value", name);

    uint64_t ms = 0;
    if (strcmp(name, "--script") == 0) {
      opt->script = v;
    } else if (strcmp(name, "--lua-path") == 0) {
      opt->lua_path = v;
    } else if (strcmp(name, "--listen") == 0) {
      px_listen_spec *l = realloc(opt->listens, sizeof(*l) * (size_t)(opt->nlistens + 1));
      if (l == NULL) return fail(err, errlen, "out of memory");
      opt->listens = l;
      if (parse_listen(v, &l[opt->nlistens], err, errlen)) return -1;
      opt->nlistens++;
    } else if (strcmp(name, "--sender") == 0) {
      px_sender_spec *l = realloc(opt->senders, sizeof(*l) * (size_t)(opt->nsenders + 1));
      if (l == NULL) return fail(err, errlen, "out of memory");
      opt->senders = l;
      if (parse_sender(v, opt, &l[opt->nsenders], err, errlen)) return -1;
      opt->nsenders++;
    } else if (strcmp(name, "--metrics") == 0) {
      char host[PX_HOST_MAX];
      int port;
      if (split_hostport(v, strlen(v), host, &port, 1))
        return fail(err, errlen, "--metrics '%s': want HOST:PORT", v);
      if (resolve(host, port, PX_TCP, &opt->metrics_addr, err, errlen)) return -1;
      opt->metrics = v;
    } else if (strcmp(name, "--drain") == 0) {
      if (seconds(name, v, 3600, &ms, err, errlen)) return -1;
      opt->drain_ms = (uint32_t)ms;
    } else if (strcmp(name, "--connect-timeout") == 0) {
      if (seconds(name, v, 3600, &ms, err, errlen)) return -1;
      if (ms == 0) return fail(err, errlen, "--connect-timeout must be more than 0");
      opt->connect_timeout_ms = ms;
    } else if (strcmp(name, "--spool") == 0) {
      if (*v == '\0') return fail(err, errlen, "--spool needs a directory");
      opt->spool = v;
    } else if (strcmp(name, "--spool-max-bytes") == 0) {
      char *end;
      errno = 0;
      unsigned long long n = strtoull(v, &end, 10);
      if (*v < '0' || *v > '9' || *end != '\0' || errno || n < 65536 || n > (1ull << 50))
        return fail(err, errlen, "--spool-max-bytes '%s': want bytes from 65536 to 2^50", v);
      opt->spool_max_bytes = n;
    } else if (strcmp(name, "--log-level") == 0) {
      if (log_level(v, &opt->log_level))
        return fail(err, errlen, "--log-level '%s': want error, warn, info or debug", v);
    } else {
      return fail(err, errlen, "unknown option '%s' (see --help)", name);
    }
  }
  if (opt->script == NULL) return fail(err, errlen, "--script is required (see --help)");
  const char *problem = tool_script_problem(opt->script);
  if (problem) return fail(err, errlen, "--script '%s': %s", opt->script, problem);
  if (opt->nlistens == 0) return fail(err, errlen, "at least one --listen is required (see --help)");
  if (opt->spool_max_bytes && opt->spool == NULL)
    return fail(err, errlen, "--spool-max-bytes needs --spool");
  return 0;
}

void px_free_args(px_options *opt) {
  free(opt->listens);
  opt->listens = NULL;
  free(opt->senders);
  opt->senders = NULL;
}
