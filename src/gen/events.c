/* events.c — one app user's mobile-banking tracking events of the 30 days to the batch date, as
 * JSON Lines in the shape of Sensors Analytics' track events (docs/gen.md, "Events"). Sessions
 * start anonymous on a device id and usually log in with the mobile as login id; the credit
 * journey runs register -> lead -> apply -> granted -> draw-down with falling conversion. */
#include <string.h>

#include "gen/gen_int.h"

typedef struct device {
    char id[37];
    const char *os, *os_version, *model, *app_version;
} device;

/* One event line is built in a fixed buffer (no allocation per event), then appended to the
 * chunk's output by ev_close. Our lines stay far below its size; text that would not fit sets
 * `over` instead of being dropped, and ev_close turns that into the chunk's error, so a cut-off
 * JSON line can never be written. */
typedef struct ev_out {
    char b[1024];
    size_t n;
    int over; /* 1: some text did not fit; the line is incomplete */
} ev_out;

static void s_putn(ev_out *e, const char *s, size_t l)
{
    if (e->n + l < sizeof e->b) {
        memcpy(e->b + e->n, s, l);
        e->n += l;
    } else {
        e->over = 1;
    }
}

static void s_put(ev_out *e, const char *s)
{
    s_putn(e, s, strlen(s));
}

static void s_u64(ev_out *e, uint64_t v)
{
    char t[TB__U64_DIGITS_MAX];
    s_putn(e, t, tb__u64_digits(v, t));
}

static void s_money(ev_out *e, int64_t fen)
{
    s_u64(e, (uint64_t)(fen / 100));
    char t[4] = {'.', (char)('0' + fen / 10 % 10), (char)('0' + fen % 10), 0};
    s_put(e, t);
}

/* A string property: our values never contain characters that JSON must escape. */
static void s_prop(ev_out *e, const char *key, const char *val)
{
    s_put(e, ",\"");
    s_put(e, key);
    s_put(e, "\":\"");
    s_put(e, val);
    s_put(e, "\"");
}

typedef struct session_ctx {
    gen_chunk *c;
    uint64_t i;
    const device *dev;
    const char *login; /* NULL while anonymous */
    int64_t ms;        /* local milliseconds since 1970-01-01 */
    unsigned seq;
} session_ctx;

/* Opens an event: the common fields and the device properties; the caller adds its own
 * properties with s_prop and closes with ev_close. */
static void ev_open(session_ctx *s, ev_out *e, const char *name)
{
    e->n = 0;
    e->over = 0;
    s_put(e, "{\"type\":\"track\",\"event\":\"");
    s_put(e, name);
    s_put(e, "\",\"time\":");
    s_u64(e, (uint64_t)(s->ms - 8LL * 3600 * 1000)); /* Asia/Shanghai is UTC+8, no DST */
    s_put(e, ",\"_track_id\":");
    s_u64(e, s->i * 1000 + s->seq++);
    s_put(e, ",\"distinct_id\":\"");
    s_put(e, s->login ? s->login : s->dev->id);
    s_put(e, "\",\"anonymous_id\":\"");
    s_put(e, s->dev->id);
    s_put(e, "\"");
    if (s->login) {
        s_put(e, ",\"login_id\":\"");
        s_put(e, s->login);
        s_put(e, "\"");
    }
    s_put(e, ",\"properties\":{\"$lib\":\"");
    s_put(e, s->dev->os);
    s_put(e, "\"");
    s_prop(e, "$os", s->dev->os);
    s_prop(e, "$os_version", s->dev->os_version);
    s_prop(e, "$model", s->dev->model);
    s_prop(e, "$app_version", s->dev->app_version);
}

static void ev_close(session_ctx *s, ev_out *e, tb__rng *r)
{
    s_put(e, "}}\n");
    gen_chunk *c = s->c;
    if (!c->rc && e->over)
        c->rc = tb__seterr(&c->err, TB_ERR,
                           "event %llu of customer %llu longer than the %zu-byte line buffer",
                           (unsigned long long)(s->seq - 1), (unsigned long long)s->i, sizeof e->b);
    if (!c->rc && tb__buf_append(&c->out[GF_EVENTS], e->b, e->n)) c->rc = TB_ENOMEM;
    c->rows[GF_EVENTS]++;
    s->ms += 2000 + (int64_t)tb__rng_below(r, 60000); /* think time before the next event */
}

static void view_product(session_ctx *s, tb__rng *r)
{
    ev_out e;
    ev_open(s, &e, "view_product");
    unsigned k = (unsigned)tb__rng_below(r, 5);
    static const char *const types[] = {"fund", "wealth", "loan", "credit_card", "insurance"};
    s_prop(&e, "product_type", types[k]);
    if (k == 0)
        s_prop(&e, "product_id", tb__gen_ct_fund.codes[tb__rng_below(r, tb__gen_ct_fund.n)]);
    else if (k == 1)
        s_prop(&e, "product_id",
               tb__gen_ct_wm_product.codes[tb__rng_below(r, tb__gen_ct_wm_product.n)]);
    else if (k == 2)
        s_prop(&e, "product_id", "LOAN-KD01");
    else if (k == 3)
        s_prop(&e, "product_id", "CARD-PLAT");
    else
        s_prop(&e, "product_id", "INS-ZJ");
    ev_close(s, &e, r);
}

static void action(session_ctx *s, tb__rng *r)
{
    ev_out e;
    unsigned k = (unsigned)tb__rng_below(r, 100);
    if (k < 35) {
        view_product(s, r);
        return;
    }
    if (k < 60) {
        ev_open(s, &e, "view_balance");
    } else if (k < 80) {
        ev_open(s, &e, "transfer");
        s_put(&e, ",\"amount\":");
        s_money(&e, (int64_t)(tb__rng_lognormal(r, 800, 1.2) * 100));
        s_prop(&e, "payee_type", tb__rng_chance(r, 0.7) ? "same_bank" : "other_bank");
    } else if (k < 88) {
        ev_open(s, &e, "fund_purchase");
        s_prop(&e, "fund_code", tb__gen_ct_fund.codes[tb__rng_below(r, tb__gen_ct_fund.n)]);
        s_put(&e, ",\"amount\":");
        s_money(&e, (int64_t)(tb__rng_lognormal(r, 2000, 1.0) * 100));
    } else {
        ev_open(s, &e, "bill_payment");
        static const char *const bills[] = {"electricity", "water", "gas", "mobile", "tv"};
        s_prop(&e, "bill_type", bills[tb__rng_below(r, 5)]);
    }
    ev_close(s, &e, r);
}

static void credit_journey(session_ctx *s, unsigned stage, tb__rng *r)
{
    static const char *const steps[] = {"credit_register", "credit_lead", "credit_apply",
                                        "credit_granted", "credit_drawdown"};
    int64_t limit = 1000000 * (1 + (int64_t)tb__rng_below(r, 20)); /* 10 000 .. 200 000 yuan */
    for (unsigned k = 0; k < stage; k++) {
        ev_out e;
        ev_open(s, &e, steps[k]);
        s_prop(&e, "product", "快贷");
        if (k == 2) {
            s_put(&e, ",\"apply_amount\":");
            s_money(&e, limit);
        } else if (k == 3) {
            s_put(&e, ",\"credit_limit\":");
            s_money(&e, limit);
        } else if (k == 4) {
            s_put(&e, ",\"amount\":");
            s_money(&e, limit / 100 * (10 + (int64_t)tb__rng_below(r, 90)));
        }
        ev_close(s, &e, r);
    }
}

void tb__gen_events(gen_chunk *c, uint64_t i, const gen_person *p, tb__rng *r)
{
    const gen_ctx *x = c->ctx;
    static const char *const ios_models[] = {"iPhone13,2", "iPhone14,5", "iPhone15,2",
                                             "iPhone16,1"};
    static const char *const and_models[] = {"HUAWEI Mate 60", "Xiaomi 14", "OPPO Reno11",
                                             "vivo X100", "HONOR 90"};
    static const char *const versions[] = {"8.1.0", "8.2.3", "8.3.1"};
    device dev[2];
    unsigned ndev = tb__rng_chance(r, 0.15) ? 2 : 1, used = 0;
    for (unsigned k = 0; k < ndev; k++) {
        tb__gen_device_id(x, p->x, k, dev[k].id);
        int ios = tb__rng_chance(r, 0.4);
        dev[k].os = ios ? "iOS" : "Android";
        dev[k].os_version = ios ? (tb__rng_chance(r, 0.6) ? "17.5" : "16.7")
                                : (tb__rng_chance(r, 0.6) ? "14" : "13");
        dev[k].model = ios ? ios_models[tb__rng_below(r, 4)] : and_models[tb__rng_below(r, 5)];
        dev[k].app_version = versions[tb__rng_below(r, 3)];
    }
    unsigned nsess = 1;
    while (nsess < 12 && tb__rng_chance(r, 0.6))
        nsess++;
    int64_t start[12];
    int first = x->batch_days - 29;
    for (unsigned k = 0; k < nsess; k++) {
        int h = tb__rng_chance(r, 0.93) ? 7 + (int)tb__rng_below(r, 16) : (int)tb__rng_below(r, 7);
        /* leave an hour before midnight so that a session stays inside its day */
        int64_t secs = (int64_t)(first + (int)tb__rng_below(r, 30)) * 86400 + h * 3600 +
                       (int64_t)tb__rng_below(r, 3600);
        if (h == 23) secs -= 3600;
        start[k] = secs * 1000 + (int64_t)tb__rng_below(r, 1000);
    }
    for (unsigned a = 1; a < nsess; a++)
        for (unsigned b = a; b > 0 && start[b - 1] > start[b]; b--) {
            int64_t t = start[b];
            start[b] = start[b - 1];
            start[b - 1] = t;
        }
    /* how far along the credit journey this user gets (each step converts less) */
    static const double conv[] = {0.15, 0.6, 0.5, 0.55, 0.6};
    unsigned stage = 0;
    while (stage < 5 && tb__rng_chance(r, conv[stage]))
        stage++;

    session_ctx s = {c, i, &dev[0], NULL, 0, 0};
    for (unsigned k = 0; k < nsess; k++) {
        unsigned d = ndev == 2 && k > 0 && tb__rng_chance(r, 0.3) ? 1 : 0;
        used |= 1u << d;
        s.dev = &dev[d];
        s.login = NULL;
        s.ms = start[k];
        ev_out e;
        ev_open(&s, &e, "app_launch");
        ev_close(&s, &e, r);
        if (tb__rng_chance(r, 0.25)) view_product(&s, r); /* browsing before login */
        int journey = stage && k == nsess - 1;
        if (!journey && !tb__rng_chance(r, 0.85)) continue; /* left without logging in */
        s.login = p->mobile;
        ev_open(&s, &e, "login");
        static const char *const methods[] = {"password", "sms", "face", "fingerprint"};
        s_prop(&e, "login_method", methods[tb__rng_below(r, 4)]);
        ev_close(&s, &e, r);
        unsigned na = 1 + (unsigned)tb__rng_below(r, 4);
        for (unsigned a = 0; a < na; a++)
            action(&s, r);
        if (journey) credit_journey(&s, stage, r);
    }
    for (unsigned k = 0; k < ndev; k++)
        if (used & (1u << k)) {
            gen_row w;
            char ent[13];
            ent[0] = 'P';
            tb__gen_zpad(ent + 1, p->x, 11);
            ent[12] = '\0';
            tb__gen_row_begin(&w);
            tb__gen_col_str(&w, "DEVICE");
            tb__gen_col_str(&w, dev[k].id);
            tb__gen_col_str(&w, "P");
            tb__gen_col_str(&w, ent);
            tb__gen_emit(c, GF_TRUTH, &w);
            c->st.devices++;
        }
    c->st.app_users++;
}
