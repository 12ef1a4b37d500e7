/* gen_int.h — private interface of the synthetic-bank generator (the files of src/gen); not for
 * callers. */
#ifndef TB_GEN_INT_H
#define TB_GEN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/rng.h"
#include "tagbase.h"

#define TB__GEN_VERSION       "tagbase-gen/1"
#define TB__GEN_MAX_CUSTOMERS 100000000ULL
#define TB__GEN_CHUNK         2048 /* customers per unit of work; output never depends on it */

/* ---- the files ------------------------------------------------------------------------------ */

typedef enum gen_file {
    GF_REGION,
    GF_ORG,
    GF_MGR,
    GF_GROUP,
    GF_CUST,
    GF_HOUSEHOLD,
    GF_DEP,
    GF_LOAN,
    GF_CARD,
    GF_WEALTH,
    GF_FUND,
    GF_INS,
    GF_METAL,
    GF_PAYROLL,
    GF_ETC,
    GF_TXN,
    GF_COURT,
    GF_BIZREG,
    GF_MODEL,
    GF_TRUTH,
    GF_EVENTS, /* JSON Lines, written by events.c without the row machinery */
    GF_COUNT
} gen_file;

/* Column flags: what a value must satisfy in a clean row, and what the dirt may break. */
enum {
    GC_REQ = 1 << 0,    /* never NULL in a clean row */
    GC_DATE = 1 << 1,   /* yyyy-MM-dd */
    GC_TS = 1 << 2,     /* yyyy-MM-dd HH:mm:ss */
    GC_MOBILE = 1 << 3, /* ^1[3-9]\d{9}$ */
    GC_RID = 1 << 4,    /* GB 11643 resident ID */
    GC_USCC = 1 << 5,   /* GB 32100 unified social credit code */
    GC_IDTYPE = 1 << 6, /* resident ID or USCC as the row's id_type says (101 / 201) */
    GC_LUHN = 1 << 7,   /* bank card number, Luhn */
    GC_NODIRT = 1 << 8, /* never corrupted (id_type: other checks depend on it) */
    GC_INT = 1 << 9,    /* type int */
    GC_MONEY = 1 << 10, /* type decimal(18,2) */
    GC_RATE = 1 << 11,  /* type decimal(9,4) */
};

typedef struct gen_codes {
    const char *name; /* code table name, documented in docs/gen.md */
    unsigned n;
    const char *const *codes;
    const char *const *labels;
} gen_codes;

typedef struct gen_col {
    const char *name;
    unsigned flags;
    const gen_codes *codes; /* NULL: not a code column */
    const char *desc;
} gen_col;

typedef struct gen_file_spec {
    const char *name;          /* base name without extension */
    const char *business_type; /* e.g. customer, deposit */
    const char *kind;          /* mart, external, model, events, reference, truth */
    const char *key;           /* key field */
    int dirty;                 /* 1: defects may be injected */
    int gb18030;               /* 1: GB18030 when the format is CSV */
    unsigned ncols;
    const gen_col *cols;
    const char *desc;
} gen_file_spec;

extern const gen_file_spec tb__gen_files[GF_COUNT];

/* ---- defects ------------------------------------------------------------------------------- */

typedef enum gen_kind {
    GK_BAD_ID,
    GK_BAD_MOBILE,
    GK_MISSING,
    GK_UNKNOWN_CODE,
    GK_DUP,
    GK_WIDTH,
    GK_BAD_DATE,
    GK_COUNT
} gen_kind;

extern const char *const tb__gen_kind_names[GK_COUNT];

typedef struct gen_defect {
    uint64_t row; /* 0-based data row within the chunk's part of the file */
    uint8_t file;
    uint8_t kind;
    uint8_t col; /* 0xff: the whole row */
} gen_defect;

/* ---- one row under construction ----------------------------------------------------------- */

#define GEN_MAXCOLS 24
#define GEN_ROWCAP  3072

typedef struct gen_row {
    unsigned n;
    unsigned used;
    uint16_t off[GEN_MAXCOLS];
    uint16_t len[GEN_MAXCOLS];
    uint8_t null[GEN_MAXCOLS];
    char data[GEN_ROWCAP];
} gen_row;

/* ---- the run-wide, read-only context and the per-chunk output ------------------------------ */

typedef struct gen_stats {
    uint64_t retail, corporate, merchant;
    uint64_t core_records, dup_persons, card_only, card_holders, app_users, devices;
    uint64_t households, groups;
} gen_stats;

typedef struct gen_ctx {
    tb_gen_opts o;
    int batch_days; /* batch date as days since 1970-01-01 */
    int batch_year;
    int hive; /* 1 for Hive text, 0 for CSV */
    /* ID-number cells: (region, birth year, sequence block), weighted by repetition; person x
     * maps bijectively onto cell x slot, so ID numbers are unique without global state. */
    uint32_t *cells; /* region << 16 | year offset << 8 | block */
    uint64_t ncells, id_space, id_mult, id_add;
    int year_min;
    uint64_t mob_space, mob_mult, mob_add;
    uint64_t cno_mult, cno_add;   /* customer number scramble over 10^11 */
    uint64_t org_mult, org_add;   /* organisation code scramble over 10^8 */
    uint64_t card_mult, card_add; /* card number body scramble over 10^9 */
    uint64_t ccn_mult, ccn_add;   /* card-system customer number scramble over 10^12 */
} gen_ctx;

/* people.c: fills the derived fields of `x` from x->o (tables, ID cells). Returns 0 or
 * TB_ENOMEM; release with tb__gen_ctx_release. */
int tb__gen_ctx_init(gen_ctx *x);
void tb__gen_ctx_release(gen_ctx *x);
/* The 12-digit core customer number of customer i (second number: i + TB__GEN_MAX_CUSTOMERS). */
void tb__gen_cust_no(const gen_ctx *x, uint64_t i, char out[13]);

typedef struct gen_chunk {
    const gen_ctx *ctx;
    uint64_t first, end; /* customer index range [first, end) */
    tb__buf out[GF_COUNT];
    uint64_t rows[GF_COUNT];
    uint64_t kinds[GF_COUNT][GK_COUNT];
    gen_defect *defects;
    size_t ndefects, capdefects;
    gen_stats st;
    tb__rng dirt;   /* reseeded per customer so that dirt never shifts clean data */
    uint64_t track; /* event counter of the current customer */
    int rc;         /* first failure (TB_ENOMEM); the chunk is then discarded */
    tb__errbuf err;
} gen_chunk;

/* row.c */
void tb__gen_row_begin(gen_row *r);
void tb__gen_col_str(gen_row *r, const char *s);
void tb__gen_col_strn(gen_row *r, const char *s, size_t n);
void tb__gen_col_u64(gen_row *r, uint64_t v);
void tb__gen_col_zpad(gen_row *r, uint64_t v, int width);
void tb__gen_col_fixed(gen_row *r, int64_t v, int scale); /* money: scale 2 (fen) */
void tb__gen_col_date(gen_row *r, int days);
void tb__gen_col_ts(gen_row *r, int64_t secs); /* local seconds since 1970-01-01 00:00 */
void tb__gen_col_null(gen_row *r);
/* Appends the row to file `f` of the chunk, injecting one defect when the dirt says so. */
void tb__gen_emit(gen_chunk *c, gen_file f, gen_row *r);
/* Appends the header line of `f` for CSV output to `b`. Returns 0 or TB_ENOMEM. */
int tb__gen_header(const gen_ctx *x, gen_file f, tb__buf *b);

/* dates.c-like helpers (in people.c) */
int tb__gen_days(int y, int m, int d);
void tb__gen_civil(int days, int *y, int *m, int *d);
int tb__gen_days_of(int yyyymmdd);
/* Writes `v` as exactly `width` digits (zero-padded, high digits dropped) to dst. */
void tb__gen_zpad(char *dst, uint64_t v, int width);

/* customer.c: generates every row that belongs to customer `i`. */
void tb__gen_customer(gen_chunk *c, uint64_t i);

/* events.c: mobile-banking events of one app user. */
typedef struct gen_person gen_person;
void tb__gen_events(gen_chunk *c, uint64_t i, const gen_person *p, tb__rng *r);

/* reference.c: regions, orgs and managers (written once, before the customers). */
int tb__gen_reference(const gen_ctx *x, gen_chunk *c);

/* ---- tables (tables.c) --------------------------------------------------------------------- */

typedef struct gen_region {
    const char *code; /* 6-digit county code */
    const char *province;
    const char *city;
    const char *county;
} gen_region;

extern const gen_region tb__gen_regions[];
extern const unsigned tb__gen_nregions;

/* Org tree: 12 branches (provinces), 4 sub-branches each, 5 outlets each. */
#define GEN_BRANCHES        12
#define GEN_SUBS            4
#define GEN_OUTLETS         5
#define GEN_NOUTLETS        (GEN_BRANCHES * GEN_SUBS * GEN_OUTLETS)
#define GEN_MGRS_PER_OUTLET 4

typedef struct gen_outlet {
    char org_id[8];
    unsigned region; /* index in tb__gen_regions */
    unsigned branch;
} gen_outlet;

/* Filled once by tb__gen_tables_init (idempotent, thread-safe via pthread_once). */
extern gen_outlet tb__gen_outlets[GEN_NOUTLETS];
extern const char *const tb__gen_branch_prov[GEN_BRANCHES]; /* 2-digit province prefix */
extern const unsigned tb__gen_branch_weight[GEN_BRANCHES];
void tb__gen_tables_init(void);
/* Index of the region of the sub-branch s (0..3) of branch b. */
unsigned tb__gen_sub_region(unsigned b, unsigned s);
unsigned tb__gen_outlet_region(unsigned b, unsigned s, unsigned o);

/* Built from the region table by tb__gen_tables_init. */
extern gen_codes tb__gen_ct_province, tb__gen_ct_city, tb__gen_ct_county;
extern const gen_codes tb__gen_ct_cust_type, tb__gen_ct_id_type, tb__gen_ct_gender,
    tb__gen_ct_occupation, tb__gen_ct_industry, tb__gen_ct_risk, tb__gen_ct_cust_status,
    tb__gen_ct_relation, tb__gen_ct_dep_type, tb__gen_ct_currency, tb__gen_ct_acct_status,
    tb__gen_ct_loan_type, tb__gen_ct_five_class, tb__gen_ct_guarantee, tb__gen_ct_card_product,
    tb__gen_ct_card_status, tb__gen_ct_wm_product, tb__gen_ct_fund, tb__gen_ct_ins_type,
    tb__gen_ct_insurer, tb__gen_ct_metal, tb__gen_ct_vehicle, tb__gen_ct_etc_status,
    tb__gen_ct_direction, tb__gen_ct_channel, tb__gen_ct_txn_type, tb__gen_ct_enforce,
    tb__gen_ct_case_status, tb__gen_ct_ent_type, tb__gen_ct_reg_status, tb__gen_ct_flag,
    tb__gen_ct_org_level, tb__gen_ct_position, tb__gen_ct_system, tb__gen_ct_entity_type;

/* Province / city codes are built from the region table at init; index = order of first
 * appearance. */
unsigned tb__gen_province_of(unsigned region); /* index in tb__gen_ct_province */
unsigned tb__gen_city_of(unsigned region);     /* index in tb__gen_ct_city */

/* Names */
extern const char *const tb__gen_surnames[];
extern unsigned tb__gen_surname_cum[]; /* cumulative weights, filled at init */
extern const unsigned tb__gen_nsurnames;
extern const char *const tb__gen_given_m[], *const tb__gen_given_f[];
extern const unsigned tb__gen_ngiven_m, tb__gen_ngiven_f;
extern const char *const tb__gen_brand[];
extern const unsigned tb__gen_nbrand;
extern const char *const tb__gen_roads[];
extern const unsigned tb__gen_nroads;
extern const char *const tb__gen_shop[];
extern const unsigned tb__gen_nshop;
extern const char *const tb__gen_industry_word[]; /* parallel to tb__gen_ct_industry */
extern const char *const tb__gen_card_bins[];
extern const unsigned tb__gen_ncard_bins;
extern const char *const tb__gen_mobile_prefix[];
extern const unsigned tb__gen_nmobile_prefix;
extern const int tb__gen_fund_nav[];          /* NAV * 10^4, parallel to tb__gen_ct_fund */
extern const unsigned char tb__gen_wm_risk[]; /* 1..5, parallel to tb__gen_ct_wm_product */
/* Licence-plate character of a province (京, 粤, ...) by region index. */
const char *tb__gen_plate_prefix(unsigned region);

/* Picks by cumulative weights cum[0..n-1] (cum[n-1] is the total). */
unsigned tb__gen_pick_cum(tb__rng *r, const unsigned *cum, unsigned n);

/* ---- persons and companies (people.c) ------------------------------------------------------ */

struct gen_person {
    uint64_t x; /* person number: 2i for core customer i, 2i+1 for i's card-only companion */
    char id_no[19];
    char mobile[12];
    char name[32];
    unsigned region; /* ID (birth) region */
    int birth;       /* days */
    int male;
};

typedef struct gen_company {
    char brand[16];
    char uscc[19];
    char name[128];
    char mobile[12];
    char legal_rep[32];
    unsigned region;
    unsigned industry;
    int est; /* days */
} gen_company;

/* The identity part of person x (ID number, birth, gender, region, mobile): a pure function of x
 * and the seed, unique per x by construction. */
void tb__gen_person_ident(const gen_ctx *x, uint64_t px, gen_person *p);
void tb__gen_person_name(tb__rng *r, gen_person *p);
void tb__gen_company(const gen_ctx *x, uint64_t i, int merchant, unsigned region, tb__rng *r,
                     gen_company *co);
/* A unique mobile for number m (persons use m = x; others offset it). */
void tb__gen_mobile(const gen_ctx *x, uint64_t m, char out[12]);

/* Card number (16 digits, Luhn) of card k (0..3) of person px; card-system customer number
 * ("C" + 12 digits) of person px; a UUID-like device id of device k of person px. */
void tb__gen_card_no(const gen_ctx *x, uint64_t px, unsigned k, const char *bin, char out[17]);
void tb__gen_card_cust_no(const gen_ctx *x, uint64_t px, char out[14]);
void tb__gen_device_id(const gen_ctx *x, uint64_t px, unsigned k, char out[37]);

/* Customer type of index i: 1 retail, 2 corporate, 3 merchant (hash of seed and i). */
int tb__gen_cust_type(const gen_ctx *x, uint64_t i);
/* A uniform double in [0,1) from (seed, salt, i): cheap decisions other customers can see. */
double tb__gen_hash_unit(const gen_ctx *x, uint64_t salt, uint64_t i);

#endif
