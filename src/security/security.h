/* security.h — who may do what: built-in and custom roles and their permissions, users with
 * argon2id passwords (libsodium) and their organisation scope, console sessions, API tokens
 * (stored hashed, scoped, expiring, revocable), and the append-only, hash-chained audit log.
 * docs/security.md is the manual (roles and permissions table, the audit chain).
 *
 * Secrets: a password, a session id and an API token are never stored or logged in clear; the
 * stores keep argon2id hashes (passwords) and keyed BLAKE2b hashes (sessions, tokens).
 * Ownership: out-parameters are caller storage; JSON documents returned are caller-owned
 * (json_decref). Thread-safety: as the tb_db handle (one per thread). Errors: 0 or negative
 * TB_E*, detail on the handle (tb_errmsg): TB_EPERM (wrong password, expired or revoked token,
 * disabled or blocked user — the detail never says which, for login), TB_ENOENT, TB_EEXIST,
 * TB_EINVAL, TB_ESTORE, TB_ENOMEM. */
#ifndef TB_SECURITY_SECURITY_H
#define TB_SECURITY_SECURITY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tagbase.h"

/* Permissions: what a role allows. */
typedef enum tb__perm {
    TB__P_PIPELINE_READ = 1u << 0,  /* pipeline status, quality reports, quarantine (masked) */
    TB__P_PIPELINE_LOAD = 1u << 1,  /* run loads */
    TB__P_STANDARD_EDIT = 1u << 2,  /* load data standards */
    TB__P_TAG_READ = 1u << 3,       /* browse the catalog */
    TB__P_TAG_EDIT = 1u << 4,       /* create and edit tag drafts, submit them */
    TB__P_TAG_APPROVE = 1u << 5,    /* approve (publish), reject, take offline */
    TB__P_TAG_BUILD = 1u << 6,      /* compute tags for a batch */
    TB__P_SEG_READ = 1u << 7,       /* count, list, show, profile, overlap, diff */
    TB__P_SEG_WRITE = 1u << 8,      /* save, import, delete segments */
    TB__P_SEG_EXPORT = 1u << 9,     /* export segment members (masked) */
    TB__P_CUSTOMER_VIEW = 1u << 10, /* the 360-degree view, lineage */
    TB__P_PII_CLEAR = 1u << 11,     /* see personal fields unmasked */
    TB__P_USER_ADMIN = 1u << 12,    /* users, roles, tokens of others */
    TB__P_AUDIT_READ = 1u << 13,    /* read and verify the audit log */
    TB__P_ALL = (1u << 14) - 1,
} tb__perm;

/* The name of each permission ("seg.read", ...) and back; 0 / NULL when unknown. */
const char *tb__perm_name(tb__perm p);
unsigned tb__perm_parse(const char *name);

/* Parses a comma-separated list of permission names ("seg.read,seg.export"; spaces around names
 * are ignored) into *out. Returns 0, or TB_EINVAL when a name is unknown or the list is empty;
 * then bad[cap] (when not NULL) holds the first unknown name. */
int tb__perms_parse_list(const char *list, unsigned *out, char *bad, size_t cap);
/* The names of the bits of `perms` as a JSON array of strings, in bit order; caller-owned
 * (json_decref); NULL when out of memory. */
json_t *tb__perms_json(unsigned perms);

typedef enum tb__scope_kind {
    TB__SCOPE_ALL = 0,     /* head office: every customer */
    TB__SCOPE_ORG = 1,     /* a branch manager: the customers of an org and its subtree */
    TB__SCOPE_MANAGER = 2, /* a customer manager: the customers assigned to them */
} tb__scope_kind;

/* Who is acting: filled by login, session or token checks, or tb__principal_cli. */
typedef struct tb__principal {
    int64_t user_id; /* 0 for the operating-system user of the command line */
    char name[65];
    char role[33];
    unsigned perms; /* the role's, narrowed by an API token's scope */
    tb__scope_kind scope;
    char scope_id[65]; /* org id or manager id; "" for TB__SCOPE_ALL */
    int via_token;
    int must_change_password;
} tb__principal;

/* 1 when the principal holds every permission in `perms`. */
static inline int tb__principal_can(const tb__principal *p, unsigned perms)
{
    return (p->perms & perms) == perms;
}

/* The command line's principal: the operating-system user `name`, all permissions, all
 * customers (whoever can read the data directory's files can read everything). */
void tb__principal_cli(tb__principal *p, const char *name);

/* Built-in roles (admin, data_steward, tag_developer, analyst, marketing_manager, branch_manager,
 * customer_manager, auditor) are created by tb__security_init; custom roles by tb__role_put.
 * tb__security_init is idempotent (it also brings the built-in roles' stored permissions up to
 * this binary's definition) and needs a writable handle. The permissions of a built-in role always
 * come from this binary's table (docs/security.md), so they hold on read-only handles too.
 * tb__role_put creates or replaces a custom role: name [a-z0-9_]{1,32}, not a built-in one
 * (TB_EPERM), perms non-zero. tb__role_list: [{"name", "builtin", "description", "perms": [...]}],
 * built-in roles first. */
int tb__security_init(tb_db *db);
int tb__role_put(tb_db *db, const char *name, unsigned perms, const char *description);
int tb__role_perms(tb_db *db, const char *name, unsigned *perms);
int tb__role_list(tb_db *db, json_t **out);

/* Users. A NULL password makes a random one (20 characters), written to generated[cap] (cap at
 * least 32; shown once) and marked must-change; a given password must have at least 10
 * characters (TB_EINVAL "password is too short: ..."). scope_id: org id for TB__SCOPE_ORG,
 * manager id for TB__SCOPE_MANAGER (required for those kinds, 1..64 characters). A branch_manager
 * must have an org scope and a customer_manager a manager scope (TB_EINVAL otherwise), so that
 * neither can ever see every customer. Names: [A-Za-z0-9._@-]{1,64}. tb__user_passwd with a
 * NULL password generates one as tb__user_add does (an admin's reset: must-change); with a
 * password it clears must-change. Changing the password or disabling a user ends their sessions.
 * These functions do not write the audit: the caller records the change with tb__audit under its
 * principal (the CLI and the server do), except tb__user_set_role_by, which changes the role and
 * audits it in one transaction (tb__user_set_role is tb__user_set_role_by with who = NULL, which
 * records the actor as "-"). tb__user_list: [{"id", "name", "role", "scope", "scope_id",
 * "must_change", "disabled", "blocked", "created_at", "updated_at"}], by name. */
int tb__user_add(tb_db *db, const char *name, const char *role, tb__scope_kind scope,
                 const char *scope_id, const char *password, char *generated, size_t cap);
int tb__user_passwd(tb_db *db, const char *name, const char *password, char *generated, size_t cap);
int tb__user_set_role(tb_db *db, const char *name, const char *role);
int tb__user_set_role_by(tb_db *db, const tb__principal *who, const char *remote, const char *name,
                         const char *role);
int tb__user_set_scope(tb_db *db, const char *name, tb__scope_kind scope, const char *scope_id);
int tb__user_disable(tb_db *db, const char *name, int disabled);
int tb__user_list(tb_db *db, json_t **out);
/* 1 when no user exists yet (first start: the server creates an admin). */
int tb__user_none(tb_db *db);

/* Checks name/password; on success creates a session valid for ttl_s seconds: *p, the session
 * id (given to the browser as an HttpOnly cookie) in sid[65] and its CSRF token in csrf[65].
 * Every attempt is audited here (action "login", outcome "ok" or "denied"; never the password):
 * callers must not audit it again. Any failure of the credentials (unknown user, wrong password,
 * disabled, blocked or locked user) is TB_EPERM "wrong user name or password". tb__session_check:
 * TB_EPERM "session expired or unknown" / "csrf token mismatch" / "user disabled". tb__logout
 * deletes the session (TB_ENOENT when there is none) and audits "logout". */
int tb__login(tb_db *db, const char *name, const char *password, int ttl_s, const char *remote,
              tb__principal *p, char sid[65], char csrf[65]);
/* Login lock-out: a wrong password for a known user counts one failure; the
 * security.lockout.attempts-th consecutive one (default 5, 1..1000) locks the account for
 * security.lockout.minutes (default 15; 0: until an admin unlocks it), audited "user.lock"; every
 * failure is audited "login" denied with {"reason", "failures"}. While locked every login is
 * refused with the same TB_EPERM "wrong user name or password" (the audit says "locked"), even
 * with the right password; a successful login resets the count; a lock that has run out is
 * forgotten with its count. Sessions and tokens already given are not affected (the lock is
 * against guessing). tb__user_unlock clears the lock and the count of `name` as `who` (needs
 * user.admin: TB_EPERM, audited denied); audits "user.unlock" {"failures", "locked_until"}.
 * TB_ENOENT unknown user; TB_EINVAL "user 'x' is not locked". tb__user_list adds
 * "failed_logins" and "locked_until" (null when not locked). */
int tb__user_unlock(tb_db *db, const tb__principal *who, const char *remote, const char *name);

/* Checks a session id (and, when csrf is not NULL, that it matches the session's CSRF token). */
int tb__session_check(tb_db *db, const char *sid, const char *csrf, tb__principal *p);
int tb__logout(tb_db *db, const char *sid);

/* API tokens: created for a user with a subset of its role's permissions (perms 0: all of
 * them; more than the role's: TB_EPERM), valid ttl_days (1..3650); the token text ("tbt_" and
 * 64 hex digits) is written once to token[cap] (cap at least 69). tb__token_check: TB_EPERM for
 * an unknown, expired or revoked token or a disabled user; p->perms is the role's permissions AND
 * the token's (a role narrowed later narrows its tokens), p->via_token = 1. tb__token_revoke:
 * TB_ENOENT when no such token, 0 when it was already revoked. tb__token_list: [{"id", "user",
 * "name", "perms", "created_at", "expires_at", "revoked_at", "state": "active"|"expired"|
 * "revoked"}], all users' when user is NULL; never the token or its hash. */
int tb__token_create(tb_db *db, const char *user, const char *name, unsigned perms, int ttl_days,
                     char *token, size_t cap, int64_t *token_id);
int tb__token_check(tb_db *db, const char *token, tb__principal *p);
int tb__token_revoke(tb_db *db, int64_t token_id);
int tb__token_list(tb_db *db, const char *user, json_t **out);

/* The audit log. Appends one record, chained to the previous one by a hash over it and the
 * previous hash, in its own transaction (or the caller's, if one is open). `detail` is a JSON
 * object text or NULL and must hold no personal data in clear. outcome: "ok", "denied",
 * "failed". */
int tb__audit(tb_db *db, const tb__principal *who, const char *remote, const char *action,
              const char *object, const char *detail, const char *outcome);
/* The chain: hash = BLAKE2b-256(prev_hash (64 hex digits) || canonical text of the record)
 * in hex; the first record's prev_hash is 64 zeros; seq runs 1, 2, 3, ... without gaps; the last
 * record's seq and hash are also kept in the setting 'security.audit_head', which catches a cut
 * at the end. who NULL records the actor "-". Recomputes the chain: *out {"ok", "records",
 * "broken_at" (seq; 0 when ok), "reason", "head" (the last hash)}. Returns 0 whether or not the
 * chain holds; an error only when it could not be read. */
int tb__audit_verify(tb_db *db, json_t **out);
/* Records newest first, filtered (any NULL filter is ignored), at most limit (<= 0: 100; at
 * most 10000). action matches exactly or as a prefix before a dot ("user" matches "user.add").
 * [{"seq", "at", "actor", "role", "remote", "action", "object", "detail" (a JSON object or null),
 * "outcome", "hash"}]. */
int tb__audit_list(tb_db *db, const char *actor, const char *action, int64_t limit, json_t **out);

/* ---------------------------------------------------------------------------------------------
 * Settings, principals of named users (approval.c)
 */

/* Reads the integer setting `key` into *out: `def` when it is not set; TB_EINVAL (detail names
 * the key) when it is not a whole number in [min, max]. */
int tb__setting_int(tb_db *db, const char *key, long long def, long long min, long long max,
                    long long *out);

/* The principal of tagbase user `name` (its role's permissions and its scope), for the command
 * line's --user NAME (trusted there: whoever runs the command line owns the data directory) and
 * for tests. TB_ENOENT "no user 'x'", TB_EPERM "user 'x' is disabled" / "user 'x' is blocked
 * (...): an admin must clear it", TB_ESTORE. */
int tb__principal_user(tb_db *db, const char *name, tb__principal *p);

/* ---------------------------------------------------------------------------------------------
 * Maker-checker approvals (approval.c; docs/security.md, "Approvals")
 *
 * A request asks for one thing: kind "export_large" (an export of more customers than the setting
 * security.export_approval_over, default 10000), "export_unmasked" (any export with personal
 * fields in clear) or "role_change", and a JSON object payload saying exactly what: {"segment",
 * "fields": [...], "customers"} for exports ("segment" required; "fields" required for
 * export_unmasked), {"user", "role"} for role changes. The payload is kept in canonical form
 * (compact, keys sorted), at most 4096 bytes, and must hold no personal data in clear.
 *
 * A second person decides: never the requester, and holding the kind's checker permissions —
 * export_large: seg.export + user.admin; export_unmasked: seg.export + pii.clear; role_change:
 * user.admin; each replaceable by the setting security.approval.perms.KIND (a comma-separated
 * permission list). The requester needs seg.export (exports) or user.admin (role changes).
 * Requests and approvals expire after security.approval_hours (default 24; 1..720): a pending
 * request that long after it was made, an approval that long after it was given. An approval is
 * used once: tb__approval_consume checks requester, kind and payload and marks it used.
 *
 * Every request, approval, rejection and use is audited ("approval.request", "approval.approve",
 * "approval.reject", "approval.use"; object "approval:ID"), refused attempts too (outcome
 * "denied"), in the same transaction as the change (or the caller's, when one is open).
 * Errors: TB_EINVAL (unknown kind, bad payload, comment missing on a rejection), TB_ENOENT (no
 * such request), TB_EPERM (requester approving, missing permission, request not pending/approved,
 * expired, payload/kind/requester mismatch: the detail says which), TB_ESTORE, TB_ENOMEM.
 */

/* Records a request by `who`; *id is its number. */
int tb__approval_request(tb_db *db, const tb__principal *who, const char *remote, const char *kind,
                         const char *payload, int64_t *id);
/* Approves (approve = 1) or rejects (0) pending request `id` as `who`. comment: up to 512 bytes,
 * required to reject. */
int tb__approval_decide(tb_db *db, const tb__principal *who, const char *remote, int64_t id,
                        int approve, const char *comment);
/* Uses approved request `id` for `requester` doing `kind` with `payload` (compared in canonical
 * form): marks it used and audits "approval.use". Call it in the transaction of the action it
 * allows, or just before the action. */
int tb__approval_consume(tb_db *db, int64_t id, const tb__principal *requester, const char *remote,
                         const char *kind, const char *payload);
/* Requests, newest first, filtered by status and requester (NULL: any), at most limit (<= 0: 100;
 * at most 10000); expired ones are marked expired first when the handle may write.
 * [{"id", "kind", "requester", "payload" (object), "status", "created_at", "expires_at",
 * "decided_by", "decided_at", "comment", "used_at"}]; *out caller-owned (json_decref). */
int tb__approval_list(tb_db *db, const char *status, const char *requester, int64_t limit,
                      json_t **out);
/* One request as tb__approval_list shows it. TB_ENOENT. */
int tb__approval_get(tb_db *db, int64_t id, json_t **out);
/* Which approval an export of `customers` customers needs: "export_unmasked" when unmasked,
 * else "export_large" when customers > security.export_approval_over, else NULL (none). *kind is
 * static text. */
int tb__approval_export_kind(tb_db *db, uint64_t customers, int unmasked, const char **kind);
/* The permissions `kind` needs of a checker (from the setting or the default), or of a requester
 * (maker = 1). TB_EINVAL for an unknown kind. */
int tb__approval_perms(tb_db *db, const char *kind, int maker, unsigned *perms);

/* ---------------------------------------------------------------------------------------------
 * Consent ledger (consent.c; docs/security.md, "Consent")
 *
 * Per customer (gid), purpose and channel, the current decision and every grant and withdrawal
 * (who recorded it, when, from which source). Purposes: "marketing" (default not granted: opt-in),
 * "profiling" (default granted: opt-out, PIPL art. 24), "third_party" (default not granted:
 * separate consent, PIPL art. 23), and any purpose [a-z0-9_]{1,32} given a default by the setting
 * security.consent.default.PURPOSE ("granted" or "not_granted"); that setting also overrides the
 * three. Channels: "sms", "phone", "app_push", "email", "wechat", "post" and "any" (the purpose on
 * every channel). The decision for (purpose, channel): a withdrawal recorded for the channel or
 * for "any" wins; else a grant for either; else the purpose's default. Asking about channel "any"
 * looks at the "any" record only. Errors: TB_EINVAL (unknown purpose or channel, bad source),
 * TB_ESTORE, TB_ENOMEM.
 */

/* Records a grant (grant = 1) or withdrawal (0) for gid, by `who`, from `source` ([ -~]{1,64}:
 * "app", "branch", "call_center", ...); audits "consent.grant" / "consent.withdraw" (object
 * "gid:N") in the same transaction. The gid is taken as given (the caller resolved it, e.g. with
 * tb__customer_resolve_any). */
int tb__consent_set(tb_db *db, const tb__principal *who, const char *remote, uint32_t gid,
                    const char *purpose, const char *channel, int grant, const char *source);
/* *granted = 1 when gid may be processed for purpose on channel; *explicit (may be NULL) = 1
 * when a record decided it, 0 when the default did. */
int tb__consent_get(tb_db *db, uint32_t gid, const char *purpose, const char *channel, int *granted,
                    int *explicit_);
/* The purpose's default (1 granted, 0 not). */
int tb__consent_default(tb_db *db, const char *purpose, int *granted);
/* gid's ledger: {"gid", "current": [{"purpose", "channel", "granted", "updated_at"}],
 * "effective": {PURPOSE: {"any": bool, "sms": bool, ...}} for the known purposes and those with
 * records, "history": [{"id", "at", "purpose", "channel", "action": "grant"|"withdraw",
 * "source", "actor"}] newest first}; *out caller-owned. */
int tb__consent_show(tb_db *db, uint32_t gid, json_t **out);
/* Calls fn(gid, granted, arg) in ascending gid order for every gid whose decision for (purpose,
 * channel) comes from a record; the others have the purpose's default. A bitmap caller sets the
 * granted gids and ANDs when the default is "not granted", or sets the withdrawn ones and ANDs
 * NOT when it is "granted". A non-zero return of fn stops the walk and is returned. fn must not
 * use db. */
int tb__consent_each(tb_db *db, const char *purpose, const char *channel,
                     int (*fn)(uint32_t gid, int granted, void *arg), void *arg);
/* Keeps, in order, the gids of gids[0..n) that may be processed for (purpose, channel); *kept is
 * how many (gids[0..*kept) holds them). Any order and duplicates are fine. */
int tb__consent_filter(tb_db *db, const char *purpose, const char *channel, uint32_t *gids,
                       size_t n, size_t *kept);

/* ---------------------------------------------------------------------------------------------
 * A person's copy of their data (copy.c; docs/security.md, "Copy of a person's data")
 */

/* Everything tagbase holds about `customer` (customer number, ID number, mobile or gid) as one
 * JSON document: {"format": "tagbase-customer-copy", "version": 1, "generated_at", "gid",
 * "customer": the 360 view UNMASKED (golden record, keys, relations, history, conflicts, tags by
 * theme, segments, batch_date), "consent": tb__consent_show's document}. o gives the caller's
 * scope and as_of (NULL: all customers, newest batch); o->unmasked is ignored (always unmasked).
 * *gid is the customer's internal id (for the caller's audit record, which this function does
 * not write). TB_ENOENT "no customer 'x'" (also outside the scope); *out caller-owned. */
int tb__customer_copy(tb_db *db, const char *customer, const tb_seg_opts *o, uint32_t *gid,
                      json_t **out);

/* ---------------------------------------------------------------------------------------------
 * Abnormal access (access.c; docs/security.md, "Abnormal access")
 *
 * Per-user counters over a sliding window (minute buckets): kind "view360" (limit setting
 * security.alert.view360_per_hour, default 200), "export" (security.alert.export_per_day,
 * default 20), "pii_read" (security.alert.pii_per_hour, default 50). The access that goes over
 * the limit raises an alert — an audit record, action "alert.KIND", outcome "denied", detail
 * {"count", "limit", "window"} — blocks the user (user.blocked holds the reason: no login,
 * session, token or further access) and is refused. The command line's operating-system user
 * (user_id 0) is not a tagbase user: it is not counted.
 */

/* Counts one access of `kind` by p. Returns 0 (go ahead), TB_EPERM when p's user is blocked
 * (now or by this access: refuse the request), TB_EINVAL for an unknown kind, TB_ESTORE. Needs a
 * writable handle. */
int tb__access_note(tb_db *db, const tb__principal *p, const char *remote, const char *kind);
/* Clears the block of user `name` and its counters; audits "user.unblock" (detail: the reason it
 * had) as `who`. Needs user.admin of who (TB_EPERM). TB_ENOENT unknown user; TB_EINVAL when the
 * user is not blocked. */
int tb__user_unblock(tb_db *db, const tb__principal *who, const char *remote, const char *name);
/* Alerts, newest first, at most limit (<= 0: 100): [{"seq", "at", "user", "kind", "count",
 * "limit", "window", "blocked" (the user's current block reason, or null)}]; *out caller-owned. */
int tb__alert_list(tb_db *db, int64_t limit, json_t **out);

#endif
