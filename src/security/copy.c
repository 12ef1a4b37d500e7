/* copy.c — a person's copy of their data (PIPL art. 45): everything tagbase holds about one
 * customer as one JSON document — the golden record unmasked (it is the data subject's own copy),
 * its keys, relationships, history and conflicts, the tags and saved segments of the newest (or
 * asked) batch, and the consent ledger with its history. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "pipeline/identity.h"
#include "security/sec_int.h"
#include "store/meta.h"

int tb__customer_copy(tb_db *db, const char *customer, const tb_seg_opts *o, uint32_t *gid,
                      json_t **out)
{
    tb__clearerr(tb__db_err(db));
    *out = NULL;
    *gid = TB__GID_NONE;
    tb_seg_opts so;
    if (o)
        so = *o;
    else
        memset(&so, 0, sizeof so);
    so.unmasked = 1; /* the subject's own data: nothing to hide from them */
    char *text = NULL;
    int rc = tb_customer_360(db, customer, &so, &text);
    if (rc) return rc;
    json_error_t jerr;
    json_t *view = json_loads(text, 0, &jerr);
    free(text);
    if (!view) return tb__seterr(tb__db_err(db), TB_ERR, "cannot read the 360 view: %s", jerr.text);
    json_t *g = json_object_get(view, "gid");
    if (!json_is_integer(g) || json_integer_value(g) < 0 ||
        json_integer_value(g) >= (json_int_t)TB__GID_NONE) {
        json_decref(view);
        return tb__seterr(tb__db_err(db), TB_ERR, "the 360 view has no gid");
    }
    *gid = (uint32_t)json_integer_value(g);
    json_t *consent = NULL;
    rc = tb__consent_show(db, *gid, &consent);
    if (rc) {
        json_decref(view);
        return rc;
    }
    char now[TB__TIME_TEXT_LEN];
    json_t *doc = json_pack("{s:s, s:i, s:s, s:I, s:o, s:o}", "format", "tagbase-customer-copy",
                            "version", 1, "generated_at", tb__now_text(now), "gid",
                            (json_int_t)*gid, "customer", view, "consent", consent);
    if (!doc) return tb__seterr(tb__db_err(db), TB_ENOMEM, "out of memory");
    *out = doc;
    return 0;
}
