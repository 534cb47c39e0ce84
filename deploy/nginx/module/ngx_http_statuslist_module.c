/*
 * statuslist origin offload, the native fast path.
 *
 * `statuslist serve --offload-dir DIR` writes every published token to DIR
 * (python/statuslist/web/offload.py); nginx with offload.conf.template answers token GETs from
 * those files, and deploy/nginx/statuslist.js (njs) makes every decision the service makes.
 * This module makes the same decisions for the requests relying parties and CDNs send all the
 * time -- a GET or HEAD with no Accept, "*" "/" "*" or one of our two media types; no
 * Accept-Encoding or one of the common lists; no condition, an If-None-Match of one plain tag,
 * or an If-Modified-Since that repeats our Last-Modified -- and answers them before njs runs,
 * from a per-worker copy of each list's .meta that one stat() per request keeps current.
 * Whatever else arrives it declines, and njs decides exactly as before. So the answers are
 * statuslist.js's by construction for every request this code leaves alone, and
 * tests/deploy/test_offload.py checks the rest against the service itself.
 *
 *     load_module .../ngx_http_statuslist_module.so;
 *     location ~ "^/statuslists/(?<statuslist_id>[A-Za-z0-9_-]{1,64})$" {
 *         statuslist_offload /var/lib/statuslist/offload $statuslist_id;
 *         js_content statuslist.serve;
 *     }
 *
 * $statuslist_fast is "1" in a request this module answered (for access_log), else empty.
 *
 * Built against the installed nginx with deploy/nginx/build-module.sh (Debian's nginx-dev).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define SL_LAYOUT        '1'   /* the .meta layout this file reads (offload.FORMAT_VERSION) */
#define SL_ID_MAX        64    /* list ids: [A-Za-z0-9_-]{1,64}, the service's rule */
#define SL_TAG_MAX       64    /* ETags without quotes: lowercase hex */
#define SL_LM_MAX        64    /* the Last-Modified value */
#define SL_META_MAX      512   /* a .meta is one short line and a date */
#define SL_SLOTS         1024  /* per worker; a list whose slot another took is re-read */

#define SL_JWT           0
#define SL_GZIP          1
#define SL_CWT           2


typedef struct {
    ngx_str_t                  root;
    ngx_http_complex_value_t  *id;
    ngx_fd_t                   lists;  /* root/lists, opened by each worker on first use */
} ngx_http_statuslist_loc_conf_t;


/* One list's .meta, parsed, with the identity of the file it came from. */
typedef struct {
    u_char      id[SL_ID_MAX];
    size_t      id_len;
    dev_t       dev;
    ino_t       ino;
    off_t       size;
    time_t      mtime_sec;
    long        mtime_nsec;
    time_t      ctime_sec;
    long        ctime_nsec;
    int64_t     iat;
    int64_t     exp;
    int64_t     ttl;
    ngx_uint_t  same_second;
    u_char      tag[3][SL_TAG_MAX];
    size_t      tag_len[3];        /* 0: that representation is not offered ("-") */
    u_char      lm[SL_LM_MAX];
    size_t      lm_len;
    ngx_uint_t  valid;
} sl_meta_t;


static ngx_int_t ngx_http_statuslist_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_statuslist_fast_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_statuslist_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_statuslist_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static char *ngx_http_statuslist_offload(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_statuslist_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_statuslist_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_statuslist_commands[] = {

    { ngx_string("statuslist_offload"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_statuslist_offload,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_statuslist_module_ctx = {
    ngx_http_statuslist_add_variables,     /* preconfiguration */
    ngx_http_statuslist_init,              /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_statuslist_create_loc_conf,   /* create location configuration */
    ngx_http_statuslist_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_statuslist_module = {
    NGX_MODULE_V1,
    &ngx_http_statuslist_module_ctx,       /* module context */
    ngx_http_statuslist_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static sl_meta_t  sl_cache[SL_SLOTS];      /* each worker has its own copy after fork */
static ngx_uint_t  sl_answered;            /* ctx marker for $statuslist_fast */

static ngx_str_t  sl_media[3] = {
    ngx_string("application/statuslist+jwt"),
    ngx_string("application/statuslist+jwt"),
    ngx_string("application/statuslist+cwt")
};
static const char  *sl_suffix[3] = { ".jwt", ".jwt.gz", ".cwt" };

/* Accept-Encoding values answered here; statuslist.js's gzipOk() lists the same ones. */
static ngx_str_t  sl_gzip_values[] = {
    ngx_string("gzip"),
    ngx_string("gzip, deflate"),
    ngx_string("gzip, deflate, br"),
    ngx_string("gzip, deflate, br, zstd"),
    ngx_string("br, gzip"),
    ngx_string("deflate, gzip"),
    ngx_null_string
};


static ngx_uint_t
sl_equal(ngx_str_t *a, const u_char *b, size_t len)
{
    return a->len == len && ngx_memcmp(a->data, b, len) == 0;
}


/* An integer as offload.py writes one: an optional '-', then 1 to 18 digits. */
static ngx_int_t
sl_int(u_char *p, size_t n, int64_t *out)
{
    int64_t     v;
    ngx_uint_t  neg;

    neg = (n > 0 && *p == '-');
    if (neg) {
        p++;
        n--;
    }
    if (n == 0 || n > 18) {
        return NGX_ERROR;
    }
    for (v = 0; n; n--, p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return NGX_OK;
}


/*
 * "<layout> <iat> <exp> <ttl> <same second 0|1> <jwt tag|-> <gzip'd jwt tag|-> <cwt tag|->\n"
 * "<Last-Modified>\n". Anything else is left to njs (NGX_ERROR).
 */
static ngx_int_t
sl_parse(sl_meta_t *m, u_char *text, size_t len)
{
    u_char     *f[8], *end, *nl, *p;
    size_t      flen[8], n;
    ngx_uint_t  i, k;

    if (len < 2 || text[len - 1] != '\n') {
        return NGX_ERROR;
    }
    nl = ngx_strlchr(text, text + len, '\n');
    if (nl == NULL || nl == text + len - 1) {
        return NGX_ERROR;
    }

    p = text;
    for (i = 0; i < 8; i++) {
        f[i] = p;
        end = (i < 7) ? ngx_strlchr(p, nl, ' ') : nl;
        if (end == NULL) {
            return NGX_ERROR;
        }
        flen[i] = end - p;
        p = end + 1;
    }
    if (ngx_strlchr(f[7], nl, ' ') != NULL) {  /* a ninth field */
        return NGX_ERROR;
    }

    if (flen[0] != 1 || f[0][0] != SL_LAYOUT) {
        return NGX_ERROR;
    }
    if (sl_int(f[1], flen[1], &m->iat) != NGX_OK
        || sl_int(f[2], flen[2], &m->exp) != NGX_OK
        || sl_int(f[3], flen[3], &m->ttl) != NGX_OK
        || flen[4] != 1)
    {
        return NGX_ERROR;
    }
    m->same_second = (f[4][0] == '1');

    for (k = 0; k < 3; k++) {
        n = flen[5 + k];
        if (n == 1 && f[5 + k][0] == '-') {
            m->tag_len[k] = 0;
            continue;
        }
        if (n == 0 || n > SL_TAG_MAX) {
            return NGX_ERROR;
        }
        for (i = 0; i < n; i++) {  /* named in a file path: only what etag_of() writes */
            u_char  c = f[5 + k][i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return NGX_ERROR;
            }
        }
        ngx_memcpy(m->tag[k], f[5 + k], n);
        m->tag_len[k] = n;
    }

    n = (text + len - 1) - (nl + 1);
    if (n > SL_LM_MAX) {
        return NGX_ERROR;
    }
    ngx_memcpy(m->lm, nl + 1, n);
    m->lm_len = n;
    return NGX_OK;
}


static ngx_uint_t
sl_same_file(sl_meta_t *m, struct stat *st)
{
    return m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size
           && m->mtime_sec == st->st_mtim.tv_sec && m->mtime_nsec == st->st_mtim.tv_nsec
           && m->ctime_sec == st->st_ctim.tv_sec && m->ctime_nsec == st->st_ctim.tv_nsec;
}


/*
 * The list's .meta as it is on disk now: the cached copy when the file is the one it was read
 * from (a rename puts a new inode in place; ctime tells a reused inode apart), else read again.
 * NULL when there is none or it is not one this code reads: njs then decides.
 */
static ngx_int_t
sl_stat_meta(ngx_http_statuslist_loc_conf_t *conf, u_char *name, struct stat *st)
{
    u_char  path[NGX_MAX_PATH], *p;

    if (conf->lists != NGX_INVALID_FILE && fstatat(conf->lists, (char *) name, st, 0) == 0) {
        return NGX_OK;
    }
    /* No such list, or the directory was replaced under the open descriptor: open it again. */
    if (conf->root.len + sizeof("/lists") > sizeof(path)) {
        return NGX_ERROR;
    }
    if (conf->lists != NGX_INVALID_FILE) {
        ngx_close_file(conf->lists);
    }
    p = ngx_cpymem(path, conf->root.data, conf->root.len);
    ngx_memcpy(p, "/lists", sizeof("/lists"));
    conf->lists = open((char *) path, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (conf->lists == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }
    return fstatat(conf->lists, (char *) name, st, 0) == 0 ? NGX_OK : NGX_ERROR;
}


/*
 * The list's .meta as it is on disk now: the cached copy when the file is the one it was read
 * from (a rename puts a new inode in place; ctime tells a reused inode, or a file rewritten in
 * place, apart), else read again. NULL when there is none or it is not one this code reads:
 * njs then decides.
 */
static sl_meta_t *
sl_meta(ngx_http_statuslist_loc_conf_t *conf, ngx_str_t *id)
{
    u_char       name[SL_ID_MAX + sizeof(".meta")], text[SL_META_MAX + 1];
    ssize_t      n;
    ngx_fd_t     fd;
    sl_meta_t   *m;
    struct stat  st;

    ngx_memcpy(ngx_cpymem(name, id->data, id->len), ".meta", sizeof(".meta"));

    if (sl_stat_meta(conf, name, &st) != NGX_OK) {
        return NULL;  /* not written (yet), or withdrawn: the service decides */
    }
    m = &sl_cache[ngx_hash_key(id->data, id->len) % SL_SLOTS];
    if (m->valid && m->id_len == id->len && ngx_memcmp(m->id, id->data, id->len) == 0
        && sl_same_file(m, &st))
    {
        return m;
    }

    m->valid = 0;
    fd = openat(conf->lists, (char *) name, O_RDONLY|O_CLOEXEC);
    if (fd == NGX_INVALID_FILE) {
        return NULL;
    }
    if (fstat(fd, &st) == -1 || st.st_size > SL_META_MAX) {
        ngx_close_file(fd);
        return NULL;
    }
    n = read(fd, text, SL_META_MAX + 1);
    ngx_close_file(fd);
    if (n <= 0 || n > SL_META_MAX || n != st.st_size) {
        return NULL;
    }
    if (sl_parse(m, text, (size_t) n) != NGX_OK) {
        return NULL;
    }

    ngx_memcpy(m->id, id->data, id->len);
    m->id_len = id->len;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->size = st.st_size;
    m->mtime_sec = st.st_mtim.tv_sec;
    m->mtime_nsec = st.st_mtim.tv_nsec;
    m->ctime_sec = st.st_ctim.tv_sec;
    m->ctime_nsec = st.st_ctim.tv_nsec;
    m->valid = 1;
    return m;
}


/* The one field line of a header, or NULL; *twice when it came on more than one line. */
static ngx_table_elt_t *
sl_request_header(ngx_http_request_t *r, const char *name, size_t len, ngx_uint_t *twice)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;
    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].hash == 0 || h[i].key.len != len
            || ngx_strncasecmp(h[i].key.data, (u_char *) name, len) != 0)
        {
            continue;
        }
        if (found != NULL) {
            *twice = 1;
        }
        found = &h[i];
    }
    return found;
}


static ngx_int_t
sl_add_header(ngx_http_request_t *r, const char *key, u_char *value, size_t len,
    ngx_table_elt_t **slot)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    h->hash = 1;
    h->key.len = ngx_strlen(key);
    h->key.data = (u_char *) key;
    h->value.len = len;
    h->value.data = value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    if (slot != NULL) {
        *slot = h;
    }
    return NGX_OK;
}

#define sl_add_static(r, key, value)                                          \
    sl_add_header(r, key, (u_char *) value, sizeof(value) - 1, NULL)


/* What the service sets on every token answer, 200 and 304 alike (web/served.py). */
static ngx_int_t
sl_common_headers(ngx_http_request_t *r, ngx_str_t *etag, ngx_str_t *cache_control)
{
    if (sl_add_header(r, "ETag", etag->data, etag->len, &r->headers_out.etag) != NGX_OK
        || sl_add_header(r, "Cache-Control", cache_control->data, cache_control->len, NULL)
           != NGX_OK
        || sl_add_static(r, "Vary", "Accept, Accept-Encoding") != NGX_OK
        || sl_add_static(r, "Access-Control-Allow-Origin", "*") != NGX_OK
        || sl_add_static(r, "Access-Control-Expose-Headers",
                         "ETag, Last-Modified, Cache-Control, Content-Encoding") != NGX_OK)
    {
        return NGX_ERROR;
    }
    return NGX_OK;
}


static ngx_int_t
sl_not_modified(ngx_http_request_t *r, sl_meta_t *m, ngx_str_t *etag, ngx_str_t *cc)
{
    u_char  *lm;

    lm = ngx_pnalloc(r->pool, m->lm_len);
    if (lm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_memcpy(lm, m->lm, m->lm_len);

    r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    ngx_str_null(&r->headers_out.content_type);
    r->headers_out.content_type_len = 0;
    r->header_only = 1;

    if (sl_common_headers(r, etag, cc) != NGX_OK
        || sl_add_header(r, "Last-Modified", lm, m->lm_len, NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_send_header(r);
}


/* The token file, as nginx's static module would send it (sendfile where it can). */
static ngx_int_t
sl_send_file(ngx_http_request_t *r, ngx_http_statuslist_loc_conf_t *conf, ngx_str_t *id,
    ngx_uint_t kind, sl_meta_t *m, ngx_str_t *etag, ngx_str_t *cc)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_str_t                  path;
    ngx_chain_t                out;
    ngx_open_file_info_t       of;
    ngx_http_core_loc_conf_t  *clcf;

    path.len = conf->root.len + sizeof("/tokens/") - 1 + id->len + 1 + m->tag_len[kind]
               + ngx_strlen(sl_suffix[kind]);
    path.data = ngx_pnalloc(r->pool, path.len + 1);
    if (path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = ngx_cpymem(path.data, conf->root.data, conf->root.len);
    p = ngx_cpymem(p, "/tokens/", sizeof("/tokens/") - 1);
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = '/';
    p = ngx_cpymem(p, m->tag[kind], m->tag_len[kind]);
    p = ngx_cpymem(p, sl_suffix[kind], ngx_strlen(sl_suffix[kind]));
    *p = '\0';

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    ngx_memzero(&of, sizeof(ngx_open_file_info_t));
    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;
    if (ngx_http_set_disable_symlinks(r, clcf, &path, &of) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_open_cached_file(clcf->open_file_cache, &path, &of, r->pool) != NGX_OK
        || !of.is_file)
    {
        return NGX_DECLINED;  /* removed since the .meta was read: njs decides again */
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;  /* the token's iat (offload.py) */
    r->headers_out.content_type = sl_media[kind];
    r->headers_out.content_type_len = sl_media[kind].len;
    r->headers_out.content_type_lowcase = NULL;
    r->allow_ranges = 1;  /* as the static module; max_ranges 0 sends the whole token */
    r->disable_not_modified = 1;  /* decided above, as statuslist.js decides */

    if (kind == SL_GZIP
        && sl_add_header(r, "Content-Encoding", (u_char *) "gzip", 4,
                         &r->headers_out.content_encoding) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (sl_common_headers(r, etag, cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = 1;
    b->last_in_chain = 1;
    b->sync = b->in_file ? 0 : 1;
    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;
    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_statuslist_handler(ngx_http_request_t *r)
{
    u_char                          *p;
    int64_t                          left, max_age, now_ms;
    ngx_int_t                        rc;
    ngx_str_t                        id, etag, cc, *accept, *encoding, *inm;
    ngx_uint_t                       i, kind, twice, gzip;
    sl_meta_t                       *m;
    struct timeval                   tv;
    ngx_table_elt_t                 *h;
    ngx_http_statuslist_loc_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_http_statuslist_module);
    if (conf->id == NULL || r != r->main
        || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) || r->args.len)
    {
        return NGX_DECLINED;
    }
    /* Left to njs, and through it to nginx's own precondition checks, as before. */
    if (r->headers_in.if_match || r->headers_in.if_unmodified_since) {
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, conf->id, &id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (id.len == 0 || id.len > SL_ID_MAX) {
        return NGX_DECLINED;
    }
    for (i = 0; i < id.len; i++) {
        u_char  c = id.data[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-'))
        {
            return NGX_DECLINED;
        }
    }

    m = sl_meta(conf, &id);
    if (m == NULL) {
        return NGX_DECLINED;
    }

    ngx_gettimeofday(&tv);  /* as Date.now() in statuslist.js: milliseconds */
    now_ms = (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
    if (m->exp * 1000 <= now_ms) {
        return NGX_DECLINED;  /* expired: the service decides */
    }

    /* Accept: the values statuslist.js's negotiate() answers without parsing. */
    twice = 0;
    h = sl_request_header(r, "Accept", sizeof("Accept") - 1, &twice);
    accept = h ? &h->value : NULL;
    if (twice) {
        return NGX_DECLINED;
    }
    if (accept == NULL || sl_equal(accept, (u_char *) "*/*", 3)) {
        if (m->tag_len[SL_JWT]) {
            kind = SL_JWT;
        } else if (m->tag_len[SL_CWT]) {
            kind = SL_CWT;
        } else {
            return NGX_DECLINED;
        }
    } else if (sl_equal(accept, sl_media[SL_JWT].data, sl_media[SL_JWT].len)
               && m->tag_len[SL_JWT])
    {
        kind = SL_JWT;
    } else if (sl_equal(accept, sl_media[SL_CWT].data, sl_media[SL_CWT].len)
               && m->tag_len[SL_CWT])
    {
        kind = SL_CWT;
    } else {
        return NGX_DECLINED;  /* the general rules, or a 406 from the service */
    }

    if (kind == SL_JWT) {  /* the gzip'd JWT, for the Accept-Encoding values gzipOk() lists */
        h = sl_request_header(r, "Accept-Encoding", sizeof("Accept-Encoding") - 1, &twice);
        encoding = h ? &h->value : NULL;
        if (twice) {
            return NGX_DECLINED;
        }
        gzip = 0;
        if (encoding != NULL) {
            for (i = 0; sl_gzip_values[i].len; i++) {
                if (sl_equal(encoding, sl_gzip_values[i].data, sl_gzip_values[i].len)) {
                    gzip = 1;
                    break;
                }
            }
            if (!gzip) {
                return NGX_DECLINED;
            }
        }
        if (gzip) {
            if (m->tag_len[SL_GZIP] == 0) {
                return NGX_DECLINED;
            }
            kind = SL_GZIP;
        }
    }

    etag.len = m->tag_len[kind] + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    cc.data = ngx_pnalloc(r->pool, sizeof("public, max-age=") - 1 + NGX_INT64_LEN);
    if (etag.data == NULL || cc.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = etag.data;
    *p++ = '"';
    p = ngx_cpymem(p, m->tag[kind], m->tag_len[kind]);
    *p = '"';

    left = (m->exp * 1000 - now_ms) / 1000;  /* Math.trunc(exp - now), exp - now > 0 */
    max_age = (left >= m->ttl) ? ngx_max(0, m->ttl) : ngx_max(0, left);
    cc.len = ngx_sprintf(cc.data, "public, max-age=%L", max_age) - cc.data;

    /* Conditions, as statuslist.js's notModified() for the plain cases. */
    if (r->headers_in.if_none_match) {
        inm = &r->headers_in.if_none_match->value;
        if (sl_equal(inm, etag.data, etag.len)) {
            rc = sl_not_modified(r, m, &etag, &cc);
            goto answered;
        }
        /* One plain tag (no list, no weak prefix, no wildcard, no spaces): it is not ours. */
        if ((inm->len >= 2 && inm->data[0] == 'W' && inm->data[1] == '/')
            || (inm->len == 1 && inm->data[0] == '*'))
        {
            return NGX_DECLINED;
        }
        for (i = 0; i < inm->len; i++) {
            if (inm->data[i] == ',' || inm->data[i] == ' ' || inm->data[i] == '\t') {
                return NGX_DECLINED;
            }
        }

    } else if (r->headers_in.if_modified_since) {
        /* Our own Last-Modified sent back: since == iat, so 304 unless two tokens shared
         * that second. Any other date goes through statuslist.js's HTTP-date parser. */
        if (!sl_equal(&r->headers_in.if_modified_since->value, m->lm, m->lm_len)) {
            return NGX_DECLINED;
        }
        if (!m->same_second) {
            rc = sl_not_modified(r, m, &etag, &cc);
            goto answered;
        }
    }

    rc = sl_send_file(r, conf, &id, kind, m, &etag, &cc);
    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

answered:

    ngx_http_set_ctx(r, &sl_answered, ngx_http_statuslist_module);
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}


static ngx_int_t
ngx_http_statuslist_fast_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_uint_t  answered;

    answered = ngx_http_get_module_ctx(r, ngx_http_statuslist_module) != NULL;
    v->data = (u_char *) (answered ? "1" : "");
    v->len = answered ? 1 : 0;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}


static void *
ngx_http_statuslist_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_statuslist_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_statuslist_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }
    conf->id = NGX_CONF_UNSET_PTR;
    conf->lists = NGX_INVALID_FILE;
    return conf;
}


static char *
ngx_http_statuslist_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_statuslist_loc_conf_t  *prev = parent;
    ngx_http_statuslist_loc_conf_t  *conf = child;

    if (conf->id == NGX_CONF_UNSET_PTR) {
        conf->id = (prev->id == NGX_CONF_UNSET_PTR) ? NULL : prev->id;
        conf->root = prev->root;
    }
    return NGX_CONF_OK;
}


/* statuslist_offload <offload dir> <list id, e.g. $statuslist_id>; */
static char *
ngx_http_statuslist_offload(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_statuslist_loc_conf_t  *slcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (slcf->id != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    value = cf->args->elts;

    slcf->root = value[1];
    while (slcf->root.len > 1 && slcf->root.data[slcf->root.len - 1] == '/') {
        slcf->root.len--;
    }
    if (slcf->root.len == 0 || slcf->root.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "statuslist_offload: \"%V\" is not an absolute path", &value[1]);
        return NGX_CONF_ERROR;
    }

    slcf->id = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (slcf->id == NULL) {
        return NGX_CONF_ERROR;
    }
    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = slcf->id;
    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_statuslist_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("statuslist_fast");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ngx_http_statuslist_fast_variable;
    return NGX_OK;
}


static ngx_int_t
ngx_http_statuslist_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_statuslist_handler;
    return NGX_OK;
}
