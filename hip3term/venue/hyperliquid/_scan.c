/* Validating scanners for the exchange's compact market frames (see compact.py).
 *
 * `book`, `bbo` and `ctx` accept exactly what compact.py's patterns (_BOOK_RE, _BBO_RE,
 * _CTX_RE) match in full, and return the same fields as compact.py's `_book_fields_re`,
 * `_bbo_fields_re` and `_ctx_fields_re`, or None: one forward pass over the bytes with no
 * backtracking (every pattern is possessive, and each choice is decided by one byte),
 * instead of the regular-expression engine's interpreter (a book of 40 levels: about a
 * fifth of the time). tests/unit/test_scan.py holds each to its pattern: the same answer
 * on generated frames and on every one-byte change of real ones.
 *
 * Grammar (bytes; the patterns are the reference):
 *   UNSIGNED  [0-9]+ ( "." [0-9]+ )?
 *   INT       "0" | [1-9][0-9]{0,17}          (what orjson keeps as an int)
 *   COIN      [ !#-[\]-~]*                    (printable ASCII but '"' and '\')
 *   ROW       {"px":"UNSIGNED","sz":"UNSIGNED","n":INT}
 *   SIDE      "[" ( ROW ( "," ROW )* )? "]"
 *   book      {"channel":"l2Book","data":{"coin":"COIN","time":INT,
 *             "levels":[SIDE,SIDE](,"fast":true|,"fast":false)?}}
 *   bbo       {"channel":"bbo","data":{"coin":"COIN","time":INT,"bbo":[ROW,ROW]}}
 *   ctx       {"channel":"activeAssetCtx","data":{"coin":"COIN","ctx":{"funding":"-?UNSIGNED",
 *             "openInterest":"UNSIGNED","prevDayPx":"UNSIGNED","dayNtlVlm":"UNSIGNED",
 *             "premium":"-?UNSIGNED","oraclePx":"UNSIGNED","markPx":"UNSIGNED",
 *             "midPx":"UNSIGNED","impactPxs":["UNSIGNED","UNSIGNED"],"dayBaseVlm":"UNSIGNED"}}}
 * An alternative a pattern would try after a failed one never matches where the first
 * failed (a number is always followed by '"', ',' or '}', never by what it could have
 * taken), so stopping at the first mismatch gives the pattern's answer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    const char *p;
    const char *end;
} Cursor;

typedef struct {
    const char *start;
    Py_ssize_t len;
} Span;

static int
literal(Cursor *c, const char *text, Py_ssize_t len)
{
    if (c->end - c->p < len || memcmp(c->p, text, (size_t)len) != 0) {
        return 0;
    }
    c->p += len;
    return 1;
}

#define LITERAL(c, text) literal((c), (text), (Py_ssize_t)(sizeof(text) - 1))

static inline int
is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* UNSIGNED, with an optional leading '-' when `signed_` */
static int
number(Cursor *c, Span *out, int signed_)
{
    const char *p = c->p, *end = c->end, *start = p, *digits;
    if (signed_ && p < end && *p == '-') {
        p++;
    }
    digits = p;
    while (p < end && is_digit(*p)) {
        p++;
    }
    if (p == digits) {
        return 0;
    }
    if (p < end && *p == '.') {
        digits = ++p;
        while (p < end && is_digit(*p)) {
            p++;
        }
        if (p == digits) {
            return 0;
        }
    }
    out->start = start;
    out->len = p - start;
    c->p = p;
    return 1;
}

/* INT: at most 18 digits, so it fits a long long */
static int
integer(Cursor *c, long long *out)
{
    const char *p = c->p, *end = c->end, *start = p;
    long long value = 0;
    if (p >= end || !is_digit(*p)) {
        return 0;
    }
    if (*p == '0') {
        *out = 0;
        c->p = p + 1;
        return 1;
    }
    while (p < end && is_digit(*p) && p - start < 18) {
        value = value * 10 + (*p - '0');
        p++;
    }
    *out = value;
    c->p = p;
    return 1;
}

static int
coin(Cursor *c, Span *out)
{
    const char *p = c->p, *end = c->end;
    while (p < end && *p >= ' ' && *p <= '~' && *p != '"' && *p != '\\') {
        p++;
    }
    out->start = c->p;
    out->len = p - c->p;
    c->p = p;
    return 1;
}

typedef struct {
    Span px, sz;
    long long n;
} Row;

static int
row(Cursor *c, Row *out)
{
    return LITERAL(c, "{\"px\":\"") && number(c, &out->px, 0)
        && LITERAL(c, "\",\"sz\":\"") && number(c, &out->sz, 0)
        && LITERAL(c, "\",\"n\":") && integer(c, &out->n) && LITERAL(c, "}");
}

typedef struct {
    Span text;        /* the side, brackets included */
    Py_ssize_t count; /* its rows */
    Row top;          /* the first row, when count > 0 */
} Side;

static int
side(Cursor *c, Side *out)
{
    Row ignored;
    const char *start = c->p;
    if (!LITERAL(c, "[")) {
        return 0;
    }
    out->count = 0;
    if (!LITERAL(c, "]")) {
        if (!row(c, &out->top)) {
            return 0;
        }
        out->count = 1;
        while (LITERAL(c, ",")) {
            if (!row(c, &ignored)) {
                return 0;
            }
            out->count++;
        }
        if (!LITERAL(c, "]")) {
            return 0;
        }
    }
    out->text.start = start;
    out->text.len = c->p - start;
    return 1;
}

static PyObject *
ascii(Span span)
{
    return PyUnicode_DecodeASCII(span.start, span.len, NULL);
}

/* Steals every reference in `items` (NULLs allowed: then None is returned after an error
 * is raised by the failed constructor, which Python sees). */
static PyObject *
pack(PyObject **items, Py_ssize_t n)
{
    PyObject *tuple = NULL;
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        if (items[i] == NULL) {
            goto fail;
        }
    }
    tuple = PyTuple_New(n);
    if (tuple == NULL) {
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyTuple_SET_ITEM(tuple, i, items[i]);
    }
    return tuple;
fail:
    for (i = 0; i < n; i++) {
        Py_XDECREF(items[i]);
    }
    return NULL;
}

static void
top_fields(const Side *s, PyObject **out)
{
    if (s->count == 0) {
        out[0] = Py_NewRef(Py_None);
        out[1] = Py_NewRef(Py_None);
        out[2] = Py_NewRef(Py_None);
    } else {
        out[0] = ascii(s->top.px);
        out[1] = ascii(s->top.sz);
        out[2] = PyLong_FromLongLong(s->top.n);
    }
}

static int
bytes_argument(PyObject *arg, Cursor *c)
{
    if (!PyBytes_CheckExact(arg)) {
        PyErr_Format(PyExc_TypeError, "expected bytes, got %.80s", Py_TYPE(arg)->tp_name);
        return 0;
    }
    c->p = PyBytes_AS_STRING(arg);
    c->end = c->p + PyBytes_GET_SIZE(arg);
    return 1;
}

PyDoc_STRVAR(book_doc,
"book(raw: bytes) -> tuple | None\n\n"
"A compact l2Book frame's fields, or None when `raw` is not one: (coin, time_ms,\n"
"bid_text, bid_count, bid_px, bid_sz, bid_n, ask_text, ask_count, ask_px, ask_sz, ask_n,\n"
"levels_at), as compact._book_fields_re.");

static PyObject *
scan_book(PyObject *module, PyObject *arg)
{
    Cursor c;
    Span name;
    long long time_ms;
    Side bids, asks;
    const char *base, *levels;
    PyObject *items[13];
    if (!bytes_argument(arg, &c)) {
        return NULL;
    }
    base = c.p;
    if (!(LITERAL(&c, "{\"channel\":\"l2Book\",\"data\":{\"coin\":\"") && coin(&c, &name)
          && LITERAL(&c, "\",\"time\":") && integer(&c, &time_ms) && LITERAL(&c, ","))) {
        Py_RETURN_NONE;
    }
    levels = c.p;
    if (!(LITERAL(&c, "\"levels\":[") && side(&c, &bids) && LITERAL(&c, ",")
          && side(&c, &asks) && LITERAL(&c, "]"))) {
        Py_RETURN_NONE;
    }
    if (!LITERAL(&c, ",\"fast\":true")) {
        (void)LITERAL(&c, ",\"fast\":false");
    }
    if (!LITERAL(&c, "}}") || c.p != c.end) {
        Py_RETURN_NONE;
    }
    items[0] = ascii(name);
    items[1] = PyLong_FromLongLong(time_ms);
    items[2] = PyBytes_FromStringAndSize(bids.text.start, bids.text.len);
    items[3] = PyLong_FromSsize_t(bids.count);
    top_fields(&bids, items + 4);
    items[7] = PyBytes_FromStringAndSize(asks.text.start, asks.text.len);
    items[8] = PyLong_FromSsize_t(asks.count);
    top_fields(&asks, items + 9);
    items[12] = PyLong_FromSsize_t(levels - base);
    return pack(items, 13);
}

PyDoc_STRVAR(bbo_doc,
"bbo(raw: bytes) -> tuple | None\n\n"
"A compact bbo frame's fields, or None when `raw` is not one: (coin, time_ms, bid_px,\n"
"bid_sz, bid_n, ask_px, ask_sz, ask_n), as compact._bbo_fields_re.");

static PyObject *
scan_bbo(PyObject *module, PyObject *arg)
{
    Cursor c;
    Span name;
    long long time_ms;
    Row bid, ask;
    PyObject *items[8];
    if (!bytes_argument(arg, &c)) {
        return NULL;
    }
    if (!(LITERAL(&c, "{\"channel\":\"bbo\",\"data\":{\"coin\":\"") && coin(&c, &name)
          && LITERAL(&c, "\",\"time\":") && integer(&c, &time_ms)
          && LITERAL(&c, ",\"bbo\":[") && row(&c, &bid) && LITERAL(&c, ",")
          && row(&c, &ask) && LITERAL(&c, "]}}") && c.p == c.end)) {
        Py_RETURN_NONE;
    }
    items[0] = ascii(name);
    items[1] = PyLong_FromLongLong(time_ms);
    items[2] = ascii(bid.px);
    items[3] = ascii(bid.sz);
    items[4] = PyLong_FromLongLong(bid.n);
    items[5] = ascii(ask.px);
    items[6] = ascii(ask.sz);
    items[7] = PyLong_FromLongLong(ask.n);
    return pack(items, 8);
}

PyDoc_STRVAR(ctx_doc,
"ctx(raw: bytes) -> tuple | None\n\n"
"A compact activeAssetCtx frame's fields, or None when `raw` is not one: (coin,\n"
"funding, open_interest, prev_day_px, day_ntl_vlm, premium, oracle_px, mark_px, mid_px,\n"
"impact_bid, impact_ask, day_base_vlm), as compact._ctx_fields_re.");

static PyObject *
scan_ctx(PyObject *module, PyObject *arg)
{
    Cursor c;
    Span name, f[11];
    PyObject *items[12];
    int i;
    if (!bytes_argument(arg, &c)) {
        return NULL;
    }
    if (!(LITERAL(&c, "{\"channel\":\"activeAssetCtx\",\"data\":{\"coin\":\"")
          && coin(&c, &name)
          && LITERAL(&c, "\",\"ctx\":{\"funding\":\"") && number(&c, &f[0], 1)
          && LITERAL(&c, "\",\"openInterest\":\"") && number(&c, &f[1], 0)
          && LITERAL(&c, "\",\"prevDayPx\":\"") && number(&c, &f[2], 0)
          && LITERAL(&c, "\",\"dayNtlVlm\":\"") && number(&c, &f[3], 0)
          && LITERAL(&c, "\",\"premium\":\"") && number(&c, &f[4], 1)
          && LITERAL(&c, "\",\"oraclePx\":\"") && number(&c, &f[5], 0)
          && LITERAL(&c, "\",\"markPx\":\"") && number(&c, &f[6], 0)
          && LITERAL(&c, "\",\"midPx\":\"") && number(&c, &f[7], 0)
          && LITERAL(&c, "\",\"impactPxs\":[\"") && number(&c, &f[8], 0)
          && LITERAL(&c, "\",\"") && number(&c, &f[9], 0)
          && LITERAL(&c, "\"],\"dayBaseVlm\":\"") && number(&c, &f[10], 0)
          && LITERAL(&c, "\"}}}") && c.p == c.end)) {
        Py_RETURN_NONE;
    }
    items[0] = ascii(name);
    for (i = 0; i < 11; i++) {
        items[i + 1] = ascii(f[i]);
    }
    return pack(items, 12);
}

static PyMethodDef scan_methods[] = {
    {"book", scan_book, METH_O, book_doc},
    {"bbo", scan_bbo, METH_O, bbo_doc},
    {"ctx", scan_ctx, METH_O, ctx_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    "hip3term.venue.hyperliquid._scan",
    "Validating scanners for the exchange's compact market frames (see compact.py).",
    0,
    scan_methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModuleDef_Init(&scan_module);
}
