/* api_privacy.c — a data subject's rights over HTTP: the copy of a person's data (PIPL art. 45)
 * as one JSON document, unmasked, scoped like the 360 view, counted as a read of personal data
 * and audited before it is sent; and the erasure of a person (PIPL art. 47) with a second
 * person's approval, answered with its report and proof. */
#include <stdio.h>

#include "security/erase.h"
#include "server/srv_int.h"

/* GET /api/v1/customers/{id}/copy: needs pii.clear (the route) and customer.view (here). */
void tb__api_customer_copy(tb__req *r)
{
    if (!tb__principal_can(&r->who, TB__P_CUSTOMER_VIEW)) {
        tb__req_error(r, 403, NULL, "role '%s' lacks the permission 'customer.view'", r->who.role);
        tb__req_audit(r, NULL, "access.denied", r->route->pattern, NULL, "denied");
        return;
    }
    tb_seg_opts so;
    const char *as_of;
    if (tb__req_date(r, "as_of", &as_of)) return;
    tb__req_seg_opts(r, &so, as_of, 1);
    tb_db *db = tb__req_rdb(r);
    uint32_t gid;
    json_t *doc;
    int rc = tb__customer_copy(db, r->params[0], &so, &gid, &doc);
    if (rc) {
        tb__req_engine_error(r, rc, db);
        return;
    }
    char object[32];
    snprintf(object, sizeof object, "gid:%u", gid);
    rc = tb__req_audit_access(r, "pii_read", "customer.copy", object, NULL);
    if (rc) {
        json_decref(doc);
        if (rc == TB_EPERM)
            tb__req_error(r, 403, NULL,
                          "user '%s' is blocked for unusual access; an administrator must clear it",
                          r->who.name);
        else
            tb__req_error(r, 500, NULL, "cannot write the audit record: nothing is shown");
        return;
    }
    tb__req_json_value(r, 200, doc);
}

/* POST /api/v1/customers/{id}/erase {"approval": ID}: needs user.admin and pii.clear (the route)
 * and an approved customer_erase request of this caller for the customer's gid (the library
 * checks it, uses it once and audits everything, refusals too). The proof's result is in the
 * answer ("ok"); a proof that found something still answers 200: the erasure is done and cannot
 * be undone, and the answer says where the identifiers were found. */
void tb__api_customer_erase(tb__req *r)
{
    json_t *b = tb__req_body(r);
    if (!b) return;
    long long approval = 0;
    if (tb__req_int(r, "approval", 1, INT64_MAX, &approval)) return;
    tb_db *w = tb__srv_wlock(r->srv);
    json_t *report = NULL;
    int rc = tb__customer_erase(w, &r->who, r->remote, r->params[0], approval, &report);
    if (rc) {
        if (rc == TB_EPERM)
            tb__req_error(r, 403, "approval", "%s", tb_errmsg(w));
        else
            tb__req_engine_error(r, rc, w);
        tb__srv_wunlock(r->srv);
        return;
    }
    tb__srv_wunlock(r->srv);
    tb__req_json_value(r, 200, report);
}
