/* ngx_stream_gatelog_module: every TCP and UDP session of nginx's stream
 * module becomes a gatelog record (docs/nginx.md).
 *
 * Each worker starts one gatelog core on a thread of its own at init and
 * closes it, with a drain, at exit; the worker's event loop reports
 * sessions through a producer (gatelog_p_*), whose calls queue an event
 * and never wait for the core (producer_full stays "fail": a full queue
 * loses that event, counted and logged, rather than stall nginx).
 *
 * A session starts in the preaccess phase, when nginx has accepted it
 * (after realip): sourceAddr is the client, destAddr the address the
 * client reached (the listen socket). The upstream is not known then, and
 * nginx may try several; the log phase adds what nginx learnt (upstreamAddr,
 * as $upstream_addr, and serverName, $ssl_preread_server_name, when not
 * empty) as record fields, takes the bytes from nginx's own counters and
 * ends the session with a reason made from nginx's status. */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include <netinet/in.h>

#include "gatelog_adopt.h"
#include "gatelog_bridge.h"

typedef struct {
  ngx_str_t script;
  u_char *script_file; /* where gatelog_script was set, for errors */
  ngx_uint_t script_line;
  ngx_str_t spool;
  ngx_array_t *options; /* ngx_keyval_t */
  ngx_msec_t drain;
  ngx_int_t upstream_addr_index;
  ngx_int_t server_name_index;
} ngx_stream_gatelog_main_conf_t;

typedef struct {
  ngx_flag_t enable;
  ngx_stream_complex_value_t *resource;
} ngx_stream_gatelog_srv_conf_t;

typedef struct {
  gatelog_sid_t sid; /* 0: not logged */
  int udp;
  ngx_stream_session_t *s;
  ngx_queue_t open;        /* in ngx_stream_gatelog_open while logged */
  uint64_t tx_told, rx_told; /* the bytes gatelog has been told of */
} ngx_stream_gatelog_ctx_t;

static void *ngx_stream_gatelog_create_main_conf(ngx_conf_t *cf);
static char *ngx_stream_gatelog_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_stream_gatelog_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_gatelog_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_stream_gatelog_postconfiguration(ngx_conf_t *cf);
static char *ngx_stream_gatelog_script(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_stream_gatelog_option(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_stream_gatelog_init_process(ngx_cycle_t *cycle);
static void ngx_stream_gatelog_exit_process(ngx_cycle_t *cycle);
static void ngx_stream_gatelog_bytes_start(ngx_log_t *log);

static ngx_command_t ngx_stream_gatelog_commands[] = {
    {ngx_string("gatelog_script"), NGX_STREAM_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_stream_gatelog_script, NGX_STREAM_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("gatelog_spool"), NGX_STREAM_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_STREAM_MAIN_CONF_OFFSET, offsetof(ngx_stream_gatelog_main_conf_t, spool), NULL},
    {ngx_string("gatelog_option"), NGX_STREAM_MAIN_CONF | NGX_CONF_TAKE2,
     ngx_stream_gatelog_option, NGX_STREAM_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("gatelog_drain"), NGX_STREAM_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_STREAM_MAIN_CONF_OFFSET, offsetof(ngx_stream_gatelog_main_conf_t, drain), NULL},
    {ngx_string("gatelog"), NGX_STREAM_MAIN_CONF | NGX_STREAM_SRV_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_STREAM_SRV_CONF_OFFSET,
     offsetof(ngx_stream_gatelog_srv_conf_t, enable), NULL},
    {ngx_string("gatelog_resource"), NGX_STREAM_MAIN_CONF | NGX_STREAM_SRV_CONF | NGX_CONF_TAKE1,
     ngx_stream_set_complex_value_slot, NGX_STREAM_SRV_CONF_OFFSET,
     offsetof(ngx_stream_gatelog_srv_conf_t, resource), NULL},
    ngx_null_command};

static ngx_stream_module_t ngx_stream_gatelog_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_stream_gatelog_postconfiguration,  /* postconfiguration */
    ngx_stream_gatelog_create_main_conf,   /* create main configuration */
    ngx_stream_gatelog_init_main_conf,     /* init main configuration */
    ngx_stream_gatelog_create_srv_conf,    /* create server configuration */
    ngx_stream_gatelog_merge_srv_conf      /* merge server configuration */
};

ngx_module_t ngx_stream_gatelog_module = {NGX_MODULE_V1,
                                          &ngx_stream_gatelog_module_ctx,
                                          ngx_stream_gatelog_commands,
                                          NGX_STREAM_MODULE,
                                          NULL,                             /* init master */
                                          NULL,                             /* init module */
                                          ngx_stream_gatelog_init_process,  /* init process */
                                          NULL,                             /* init thread */
                                          NULL,                             /* exit thread */
                                          ngx_stream_gatelog_exit_process,  /* exit process */
                                          NULL,                             /* exit master */
                                          NGX_MODULE_V1_PADDING};

/* This worker's core and producer; NULL when no script is configured or
 * the core did not start. */
static gatelog_t *ngx_stream_gatelog_core;
static gatelog_producer_t *ngx_stream_gatelog_producer;

/* ---- configuration ------------------------------------------------------ */

static void *ngx_stream_gatelog_create_main_conf(ngx_conf_t *cf) {
  ngx_stream_gatelog_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof(*mcf));
  if (mcf == NULL) return NULL;
  mcf->drain = NGX_CONF_UNSET_MSEC;
  mcf->options = ngx_array_create(cf->pool, 4, sizeof(ngx_keyval_t));
  if (mcf->options == NULL) return NULL;
  return mcf;
}

static char *ngx_stream_gatelog_init_main_conf(ngx_conf_t *cf, void *conf) {
  ngx_stream_gatelog_main_conf_t *mcf = conf;
  (void)cf;
  ngx_conf_init_msec_value(mcf->drain, 5000);
  return NGX_CONF_OK;
}

static void *ngx_stream_gatelog_create_srv_conf(ngx_conf_t *cf) {
  ngx_stream_gatelog_srv_conf_t *scf = ngx_pcalloc(cf->pool, sizeof(*scf));
  if (scf == NULL) return NULL;
  scf->enable = NGX_CONF_UNSET;
  scf->resource = NGX_CONF_UNSET_PTR;
  return scf;
}

static char *ngx_stream_gatelog_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child) {
  ngx_stream_gatelog_srv_conf_t *prev = parent, *conf = child;
  (void)cf;
  ngx_conf_merge_value(conf->enable, prev->enable, 0);
  ngx_conf_merge_ptr_value(conf->resource, prev->resource, NULL);
  return NGX_CONF_OK;
}

static char *ngx_stream_gatelog_script(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
  ngx_stream_gatelog_main_conf_t *mcf = conf;
  ngx_str_t *args = cf->args->elts;
  (void)cmd;
  if (mcf->script.data) return "is duplicate";
  if (ngx_conf_full_name(cf->cycle, &args[1], 1) != NGX_OK) return NGX_CONF_ERROR;
  mcf->script = args[1];
  mcf->script_file = cf->conf_file->file.name.data;
  mcf->script_line = cf->conf_file->line;
  return NGX_CONF_OK;
}

/* gatelog_option NAME VALUE: checked now against a scratch set of
 * options, so that a bad one fails at its own line. */
static char *ngx_stream_gatelog_option(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
  ngx_stream_gatelog_main_conf_t *mcf = conf;
  ngx_str_t *args = cf->args->elts;
  gatelog_options_t scratch;
  char why[256];
  (void)cmd;
  gatelog_options_init(&scratch);
  if (gatelog_options_set(&scratch, (char *)args[1].data, (char *)args[2].data, why,
                          sizeof(why)) != 0) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "gatelog_option: %s", why);
    return NGX_CONF_ERROR;
  }
  ngx_keyval_t *kv = ngx_array_push(mcf->options);
  if (kv == NULL) return NGX_CONF_ERROR;
  kv->key = args[1];
  kv->value = args[2];
  return NGX_CONF_OK;
}

static void ngx_stream_gatelog_log_line(void *data, int level, const char *msg) {
  static const ngx_uint_t levels[] = {NGX_LOG_ERR, NGX_LOG_WARN, NGX_LOG_INFO, NGX_LOG_DEBUG};
  ngx_log_t *log = data;
  ngx_log_error(levels[level >= 0 && level <= 3 ? level : 0], log, 0, "gatelog: %s", msg);
}

/* The core's options from the configuration. The module's own defaults
 * come first: nginx owns UDP lifetimes (proxy_timeout), so gatelog's idle
 * timeout is as long as it goes; only warnings and errors reach nginx's
 * error log (no ACCESS lines); a producer queue of 65536 events (about
 * 13,000 sessions' worth) rides out a busy moment of the core's thread.
 * gatelog_option overrides each. */
static void ngx_stream_gatelog_options(ngx_stream_gatelog_main_conf_t *mcf, ngx_log_t *log,
                                       gatelog_options_t *o) {
  gatelog_options_init(o);
  o->script = (char *)mcf->script.data;
  gatelog_options_set(o, "udp_idle_timeout", "31536000", NULL, 0);
  gatelog_options_set(o, "log_level", "warn", NULL, 0);
  gatelog_options_set(o, "producer_queue", "65536", NULL, 0);
  ngx_keyval_t *kv = mcf->options->elts;
  for (ngx_uint_t i = 0; i < mcf->options->nelts; i++)
    gatelog_options_set(o, (char *)kv[i].key.data, (char *)kv[i].value.data, NULL, 0);
  o->log = ngx_stream_gatelog_log_line;
  o->log_data = log;
}

static ngx_int_t ngx_stream_gatelog_start_handler(ngx_stream_session_t *s);
static ngx_int_t ngx_stream_gatelog_log_handler(ngx_stream_session_t *s);

/* Registers the phase handlers and loads the script once, so that a script
 * that does not load fails the configuration (nginx -t, reload) with its
 * file and line. */
static ngx_int_t ngx_stream_gatelog_postconfiguration(ngx_conf_t *cf) {
  ngx_stream_gatelog_main_conf_t *mcf =
      ngx_stream_conf_get_module_main_conf(cf, ngx_stream_gatelog_module);
  ngx_stream_core_main_conf_t *cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);
  if (mcf->script.data == NULL) return NGX_OK;

  ngx_stream_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_STREAM_PREACCESS_PHASE].handlers);
  if (h == NULL) return NGX_ERROR;
  *h = ngx_stream_gatelog_start_handler;
  h = ngx_array_push(&cmcf->phases[NGX_STREAM_LOG_PHASE].handlers);
  if (h == NULL) return NGX_ERROR;
  *h = ngx_stream_gatelog_log_handler;

  ngx_str_t upstream_addr = ngx_string("upstream_addr");
  ngx_str_t server_name = ngx_string("ssl_preread_server_name");
  mcf->upstream_addr_index = ngx_stream_get_variable_index(cf, &upstream_addr);
  mcf->server_name_index = ngx_stream_get_variable_index(cf, &server_name);
  if (mcf->upstream_addr_index == NGX_ERROR || mcf->server_name_index == NGX_ERROR)
    return NGX_ERROR;

  gatelog_options_t o;
  char why[1024];
  ngx_stream_gatelog_options(mcf, cf->log, &o);
  o.log = NULL; /* the check's own lines would only repeat its error */
  o.log_level = GATELOG_LOG_ERROR;
  if (glb_check(&o, why, sizeof(why)) != 0) {
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "gatelog_script \"%V\" does not load: %s in %s:%ui",
                  &mcf->script, why, mcf->script_file, mcf->script_line);
    return NGX_ERROR;
  }
  return NGX_OK;
}

/* ---- worker lifetime ---------------------------------------------------- */

/* ---- spools no worker holds (gatelog_adopt.h) ---------------------------
 * Looked for at init and every GATELOG_ADOPT_SCAN_MS after: a worker of the
 * previous generation may leave batches in its spool when it exits, after
 * this worker started. An adopted spool's core is stopped once it has
 * delivered everything; at exit, with the worker's drain. */
#define GATELOG_ADOPT_POLL_MS 1000
#define GATELOG_ADOPT_SCAN_MS 10000

static ngx_event_t ngx_stream_gatelog_adopt_ev;
static gatelog_options_t ngx_stream_gatelog_adopt_opts;
static char ngx_stream_gatelog_spool_base[PATH_MAX], ngx_stream_gatelog_spool_own[PATH_MAX];
static ngx_msec_t ngx_stream_gatelog_adopt_scan_at;

static void ngx_stream_gatelog_adopted(void *data, const char *dir) {
  ngx_log_error(NGX_LOG_NOTICE, (ngx_log_t *)data, 0,
                "gatelog: delivering the spool %s, which no worker holds", dir);
}

static void ngx_stream_gatelog_adopt_failed(void *data, const char *dir, const char *why) {
  ngx_log_error(NGX_LOG_ALERT, (ngx_log_t *)data, 0, "gatelog: cannot deliver the spool %s: %s",
                dir, why);
}

static void ngx_stream_gatelog_adopt_done(void *data, const char *dir) {
  ngx_log_error(NGX_LOG_NOTICE, (ngx_log_t *)data, 0, "gatelog: the spool %s is delivered", dir);
}

static void ngx_stream_gatelog_adopt_tick(ngx_event_t *ev) {
  gla_poll(0, 0, ngx_stream_gatelog_adopt_done, ev->log);
  if (ngx_current_msec >= ngx_stream_gatelog_adopt_scan_at) {
    gla_scan(ngx_stream_gatelog_spool_base, ngx_stream_gatelog_spool_own,
             &ngx_stream_gatelog_adopt_opts, ngx_stream_gatelog_adopted,
             ngx_stream_gatelog_adopt_failed, ev->log);
    ngx_stream_gatelog_adopt_scan_at = ngx_current_msec + GATELOG_ADOPT_SCAN_MS;
  }
  if (!ngx_exiting && !ngx_quit && !ngx_terminate) ngx_add_timer(ev, GATELOG_ADOPT_POLL_MS);
}

static void ngx_stream_gatelog_adopt_start(ngx_cycle_t *cycle,
                                           ngx_stream_gatelog_main_conf_t *mcf,
                                           const gatelog_options_t *o, const char *own) {
  ngx_stream_gatelog_adopt_opts = *o;
  /* The options' strings belong to the configuration, which lives as long
   * as the worker; the spool directory is set for each adopted one. */
  ngx_stream_gatelog_adopt_opts.spool_dir = NULL;
  ngx_snprintf((u_char *)ngx_stream_gatelog_spool_base, sizeof(ngx_stream_gatelog_spool_base),
               "%V%Z", &mcf->spool);
  ngx_cpystrn((u_char *)ngx_stream_gatelog_spool_own, (u_char *)own,
              sizeof(ngx_stream_gatelog_spool_own));
  ngx_stream_gatelog_adopt_ev.handler = ngx_stream_gatelog_adopt_tick;
  ngx_stream_gatelog_adopt_ev.log = cycle->log;
  ngx_stream_gatelog_adopt_ev.cancelable = 1; /* no reason to keep a quitting worker */
  ngx_stream_gatelog_adopt_scan_at = 0;
  ngx_stream_gatelog_adopt_tick(&ngx_stream_gatelog_adopt_ev);
}

/* The worker's spool: the first directory of <spool>/w<N>, <spool>/w<N>.1,
 * ... whose lock is free (a worker of the previous generation may still
 * hold w<N> while it drains after a reload). A worker that died left its
 * directory unlocked: the next worker to take that name sends what it
 * holds. */
#define GATELOG_SPOOL_NAMES 64

static ngx_int_t ngx_stream_gatelog_init_process(ngx_cycle_t *cycle) {
  if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) return NGX_OK;
  ngx_stream_gatelog_main_conf_t *mcf =
      ngx_stream_cycle_get_module_main_conf(cycle, ngx_stream_gatelog_module);
  if (mcf == NULL || mcf->script.data == NULL) return NGX_OK;

  gatelog_options_t o;
  char why[1024], dir[PATH_MAX];
  ngx_stream_gatelog_options(mcf, cycle->log, &o);
  if (mcf->spool.data && ngx_create_dir(mcf->spool.data, 0700) == NGX_FILE_ERROR &&
      ngx_errno != NGX_EEXIST) {
    ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno, "gatelog_spool \"%V\"", &mcf->spool);
  }
  int rc = UV_EBUSY;
  for (int k = 0; k < GATELOG_SPOOL_NAMES && rc == UV_EBUSY; k++) {
    if (mcf->spool.data) {
      if (k == 0) ngx_snprintf((u_char *)dir, sizeof(dir), "%V/w%ui%Z", &mcf->spool, ngx_worker);
      else ngx_snprintf((u_char *)dir, sizeof(dir), "%V/w%ui.%d%Z", &mcf->spool, ngx_worker, k);
      o.spool_dir = dir;
    }
    rc = glb_start(&o, &ngx_stream_gatelog_core, &ngx_stream_gatelog_producer, why, sizeof(why));
    if (mcf->spool.data == NULL) break;
  }
  if (rc != 0) {
    /* The worker serves without logging rather than not at all. */
    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0, "gatelog: no core in this worker: %s (%s)",
                  why, gatelog_err_name(rc));
    ngx_stream_gatelog_core = NULL;
    return NGX_OK;
  }
  ngx_stream_gatelog_bytes_start(cycle->log);
  if (mcf->spool.data) ngx_stream_gatelog_adopt_start(cycle, mcf, &o, dir);
  return NGX_OK;
}

static void ngx_stream_gatelog_exit_process(ngx_cycle_t *cycle) {
  if (ngx_stream_gatelog_core == NULL) return;
  ngx_stream_gatelog_main_conf_t *mcf =
      ngx_stream_cycle_get_module_main_conf(cycle, ngx_stream_gatelog_module);
  /* Records the drain could not deliver (nor spool) are logged by the core. */
  gla_poll(1, (uint32_t)mcf->drain, NULL, NULL);
  glb_stop(ngx_stream_gatelog_core, ngx_stream_gatelog_producer, (uint32_t)mcf->drain);
  ngx_stream_gatelog_core = NULL;
  ngx_stream_gatelog_producer = NULL;
}

/* ---- sessions ----------------------------------------------------------- */

static int64_t ngx_stream_gatelog_resource(ngx_stream_session_t *s,
                                           ngx_stream_gatelog_srv_conf_t *scf) {
  ngx_str_t v;
  char buf[24];
  if (scf->resource == NULL) return 0;
  if (ngx_stream_complex_value(s, scf->resource, &v) != NGX_OK || v.len == 0 ||
      v.len >= sizeof(buf))
    return 0;
  ngx_memcpy(buf, v.data, v.len);
  buf[v.len] = '\0';
  char *end;
  long long n = strtoll(buf, &end, 10);
  if (*end != '\0') {
    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "gatelog_resource \"%V\" is not an integer: 0 used", &v);
    return 0;
  }
  return n;
}

/* ---- bytes while sessions run ------------------------------------------
 * nginx has no hook while a session's data flows, so every
 * GATELOG_BYTES_MS the worker tells gatelog what its open sessions moved
 * since the last time (from nginx's own counters), and the log phase the
 * rest: the core's interim records (active_timeout) then carry the bytes
 * so far. */
#define GATELOG_BYTES_MS 1000

static ngx_queue_t ngx_stream_gatelog_open;
static ngx_event_t ngx_stream_gatelog_bytes_ev;

/* What the client saw so far: bytes nginx received from it and sent to it. */
static int ngx_stream_gatelog_tell_bytes(ngx_stream_gatelog_ctx_t *ctx) {
  uint64_t tx = ctx->s->received > 0 ? (uint64_t)ctx->s->received : 0;
  uint64_t rx = ctx->s->connection->sent > 0 ? (uint64_t)ctx->s->connection->sent : 0;
  if (tx == ctx->tx_told && rx == ctx->rx_told) return 0;
  int err = gatelog_p_add_bytes(ngx_stream_gatelog_producer, ctx->sid, tx - ctx->tx_told,
                                rx - ctx->rx_told);
  if (err == 0) {
    ctx->tx_told = tx;
    ctx->rx_told = rx;
  }
  return err;
}

static void ngx_stream_gatelog_bytes_tick(ngx_event_t *ev) {
  ngx_queue_t *q;
  for (q = ngx_queue_head(&ngx_stream_gatelog_open); q != ngx_queue_sentinel(&ngx_stream_gatelog_open);
       q = ngx_queue_next(q))
    ngx_stream_gatelog_tell_bytes(ngx_queue_data(q, ngx_stream_gatelog_ctx_t, open));
  if (!ngx_exiting && !ngx_quit && !ngx_terminate) ngx_add_timer(ev, GATELOG_BYTES_MS);
}

static void ngx_stream_gatelog_bytes_start(ngx_log_t *log) {
  ngx_queue_init(&ngx_stream_gatelog_open);
  ngx_stream_gatelog_bytes_ev.handler = ngx_stream_gatelog_bytes_tick;
  ngx_stream_gatelog_bytes_ev.log = log;
  ngx_stream_gatelog_bytes_ev.cancelable = 1; /* no reason to keep a quitting worker */
  ngx_add_timer(&ngx_stream_gatelog_bytes_ev, GATELOG_BYTES_MS);
}

static void ngx_stream_gatelog_forget(ngx_stream_gatelog_ctx_t *ctx) {
  if (ctx->open.next == NULL) return;
  ngx_queue_remove(&ctx->open);
  ctx->open.next = NULL;
}

/* A session freed without its log phase (nginx always runs it; this is
 * only so that the list never holds freed memory). */
static void ngx_stream_gatelog_cleanup(void *data) { ngx_stream_gatelog_forget(data); }

static ngx_stream_gatelog_ctx_t *ngx_stream_gatelog_begin(ngx_stream_session_t *s) {
  ngx_stream_gatelog_srv_conf_t *scf = ngx_stream_get_module_srv_conf(s, ngx_stream_gatelog_module);
  ngx_connection_t *c = s->connection;
  if (ngx_stream_gatelog_core == NULL || !scf->enable) return NULL;
  if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK) return NULL;
  int families_ok = (c->sockaddr->sa_family == AF_INET || c->sockaddr->sa_family == AF_INET6) &&
                    (c->local_sockaddr->sa_family == AF_INET ||
                     c->local_sockaddr->sa_family == AF_INET6);
  if (!families_ok) return NULL; /* unix sockets have no address to log */
  ngx_stream_gatelog_ctx_t *ctx = ngx_pcalloc(c->pool, sizeof(*ctx));
  if (ctx == NULL) return NULL;
  ctx->udp = c->type == SOCK_DGRAM;
  int64_t resource = ngx_stream_gatelog_resource(s, scf);
  int err = ctx->udp ? gatelog_p_udp_track(ngx_stream_gatelog_producer, resource, c->sockaddr,
                                           c->local_sockaddr, &ctx->sid)
                     : gatelog_p_tcp_start(ngx_stream_gatelog_producer, resource, c->sockaddr,
                                           c->local_sockaddr, &ctx->sid);
  if (err) {
    ctx->sid = 0;
    ngx_log_error(NGX_LOG_WARN, c->log, 0, "gatelog: session not logged: %s",
                  gatelog_strerror(err));
  }
  ctx->s = s;
  ngx_pool_cleanup_t *cln = ctx->sid ? ngx_pool_cleanup_add(c->pool, 0) : NULL;
  if (cln) {
    cln->handler = ngx_stream_gatelog_cleanup;
    cln->data = ctx;
    ngx_queue_insert_tail(&ngx_stream_gatelog_open, &ctx->open);
  }
  ngx_stream_set_ctx(s, ctx, ngx_stream_gatelog_module);
  return ctx;
}

static ngx_int_t ngx_stream_gatelog_start_handler(ngx_stream_session_t *s) {
  if (ngx_stream_get_module_ctx(s, ngx_stream_gatelog_module) == NULL)
    ngx_stream_gatelog_begin(s);
  return NGX_DECLINED;
}

/* nginx's status as an endReason (docs/nginx.md lists them). */
static const char *ngx_stream_gatelog_reason(ngx_uint_t status) {
  switch (status) {
  case NGX_STREAM_OK: return "closed";
  case NGX_STREAM_BAD_REQUEST: return "bad_request";
  case NGX_STREAM_FORBIDDEN: return "forbidden";
  case NGX_STREAM_INTERNAL_SERVER_ERROR: return "internal_error";
  case NGX_STREAM_BAD_GATEWAY: return "upstream_failed";
  case NGX_STREAM_SERVICE_UNAVAILABLE: return "unavailable";
  case 504: return "upstream_timeout";
  default: return "error";
  }
}

static void ngx_stream_gatelog_attr(ngx_stream_session_t *s, ngx_stream_gatelog_ctx_t *ctx,
                                    ngx_int_t index, const char *key) {
  u_char value[1025]; /* gatelog takes up to 1024 bytes, NUL-terminated */
  ngx_stream_variable_value_t *v = ngx_stream_get_indexed_variable(s, (ngx_uint_t)index);
  if (v == NULL || v->not_found || v->len == 0) return;
  size_t n = v->len < sizeof(value) - 1 ? v->len : sizeof(value) - 1;
  ngx_memcpy(value, v->data, n);
  value[n] = '\0';
  gatelog_p_set_attr(ngx_stream_gatelog_producer, ctx->sid, key, (char *)value);
}

static ngx_int_t ngx_stream_gatelog_log_handler(ngx_stream_session_t *s) {
  ngx_stream_gatelog_main_conf_t *mcf = ngx_stream_get_module_main_conf(s, ngx_stream_gatelog_module);
  ngx_stream_gatelog_ctx_t *ctx = ngx_stream_get_module_ctx(s, ngx_stream_gatelog_module);
  /* A session that ended before preaccess (realip, an early error) is
   * started here, so that it is logged too. */
  if (ctx == NULL) ctx = ngx_stream_gatelog_begin(s);
  if (ctx == NULL || ctx->sid == 0 || ngx_stream_gatelog_producer == NULL) return NGX_OK;
  ngx_stream_gatelog_attr(s, ctx, mcf->upstream_addr_index, "upstreamAddr");
  ngx_stream_gatelog_attr(s, ctx, mcf->server_name_index, "serverName");
  gatelog_producer_t *p = ngx_stream_gatelog_producer;
  const char *reason = ngx_stream_gatelog_reason(s->status);
  ngx_stream_gatelog_forget(ctx);
  int err = ngx_stream_gatelog_tell_bytes(ctx);
  /* Ended even if the bytes were refused (a full queue): no session is
   * left open until the worker exits. */
  int end = ctx->udp ? gatelog_p_udp_end_reason(p, ctx->sid, reason)
                     : gatelog_p_tcp_end_reason(p, ctx->sid, reason);
  if (err == 0) err = end;
  if (err)
    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0, "gatelog: session %016xL not ended: %s",
                  (uint64_t)ctx->sid, gatelog_strerror(err));
  ctx->sid = 0;
  return NGX_OK;
}
