/* schema.c — the generator's files and their columns: one table that the row writer, the
 * manifest and (through the manifest) the tests all read, so that they cannot disagree. */
#include "gen/gen_int.h"

#define R      GC_REQ
#define DATE   GC_DATE
#define MONEY  GC_MONEY
#define RATE   GC_RATE
#define INT    GC_INT
#define NODIRT GC_NODIRT

#define FILE_SPEC(nm, bt, kd, key, dirty, gb, cols, desc)                                          \
    {                                                                                              \
        nm, bt, kd, key, dirty, gb, sizeof cols / sizeof cols[0], cols, desc                       \
    }

static const gen_col regions_cols[] = {
    {"region_code", R, NULL, "6-digit county-level code, GB/T 2260"},
    {"province_name", R, NULL, "province"},
    {"city_name", R, NULL, "prefecture-level city"},
    {"county_name", R, NULL, "county / district"},
};

static const gen_col orgs_cols[] = {
    {"org_id", R, NULL, "6-digit org code: 1 BB S OO (branch, sub-branch, outlet)"},
    {"org_name", R, NULL, "org name"},
    {"org_level", R, &tb__gen_ct_org_level, "level in the tree"},
    {"parent_org_id", 0, NULL, "parent org; NULL for the head office"},
    {"province_code", R, &tb__gen_ct_province, "province code (GB/T 2260, xx0000)"},
    {"city_code", R, &tb__gen_ct_city, "city code (xxxx00)"},
    {"region_code", R, &tb__gen_ct_county, "county code"},
    {"address", R, NULL, "street address"},
};

static const gen_col mgr_cols[] = {
    {"mgr_id", R, NULL, "customer manager id: M + org_id + 2 digits"},
    {"mgr_name", R, NULL, "name"},
    {"org_id", R, NULL, "the outlet the manager works at (orgs.org_id)"},
    {"position", R, &tb__gen_ct_position, "role"},
    {"mobile", R | GC_MOBILE, NULL, "work mobile"},
    {"hire_date", R | DATE, NULL, "date hired"},
};

static const gen_col group_cols[] = {
    {"group_id", R, NULL, "corporate group id: G + 8 digits"},
    {"group_name", R, NULL, "group name"},
    {"head_cust_no", R, NULL, "core customer number of the group's head company"},
    {"member_count", R | INT, NULL, "number of member companies (customers.group_id)"},
    {"industry_code", R, &tb__gen_ct_industry, "head company's industry (GB/T 4754-2017)"},
};

static const gen_col cust_cols[] = {
    {"cust_no", R, NULL, "core customer number (12 digits); a person may have two"},
    {"cust_type", R, &tb__gen_ct_cust_type, "customer type"},
    {"cust_name", R, NULL, "person's or company's name"},
    {"id_type", R | NODIRT, &tb__gen_ct_id_type, "identity document type"},
    {"id_no", R | GC_IDTYPE, NULL, "resident ID (id_type 101) or unified social credit code (201)"},
    {"gender", 0, &tb__gen_ct_gender,
     "persons: from the ID's 17th digit (odd male); NULL for companies"},
    {"birth_date", DATE, NULL, "persons: as in the ID; NULL for companies"},
    {"mobile", R | GC_MOBILE, NULL, "persons: own mobile; companies: contact's mobile"},
    {"province_code", R, &tb__gen_ct_province, "province of residence / registration"},
    {"city_code", R, &tb__gen_ct_city, "city of residence / registration"},
    {"address", R, NULL, "address (may contain an ASCII comma)"},
    {"occupation_code", 0, &tb__gen_ct_occupation, "persons: GB/T 6565 major group; else NULL"},
    {"industry_code", 0, &tb__gen_ct_industry, "companies: GB/T 4754-2017 class; else NULL"},
    {"risk_level", R, &tb__gen_ct_risk, "risk-assessment level"},
    {"org_id", R, NULL, "account-holding outlet (orgs.org_id, level 4)"},
    {"mgr_id", 0, NULL, "customer manager (managers.mgr_id); NULL when none"},
    {"open_date", R | DATE, NULL, "date the customer number was opened"},
    {"group_id", 0, NULL, "corporates in a group: groups.group_id; else NULL"},
    {"cust_status", R, &tb__gen_ct_cust_status, "status"},
};

static const gen_col household_cols[] = {
    {"household_id", R, NULL, "household id: H + 9 digits"},
    {"cust_no", R, NULL, "member (retail customer)"},
    {"relation", R, &tb__gen_ct_relation, "relation to the head"},
    {"head_cust_no", R, NULL, "the head's customer number (relation 01 row has its own)"},
};

static const gen_col dep_cols[] = {
    {"acct_no", R, NULL, "account number (20 digits)"},
    {"cust_no", R, NULL, "owner"},
    {"dep_type", R, &tb__gen_ct_dep_type, "demand or time deposit"},
    {"currency", R, &tb__gen_ct_currency, "currency"},
    {"balance", R | MONEY, NULL, "balance in yuan at the batch date"},
    {"open_date", R | DATE, NULL, "opening date"},
    {"maturity_date", DATE, NULL, "time deposits: maturity (after the batch date); demand: NULL"},
    {"term_months", INT, NULL, "time deposits: term in months; demand: NULL"},
    {"rate", R | RATE, NULL, "annual interest rate in percent"},
    {"acct_status", R, &tb__gen_ct_acct_status, "status"},
    {"org_id", R, NULL, "account-holding outlet"},
};

static const gen_col loan_cols[] = {
    {"loan_no", R, NULL, "loan (due bill) number, 20 digits"},
    {"cust_no", R, NULL, "borrower"},
    {"loan_type", R, &tb__gen_ct_loan_type, "product"},
    {"contract_amt", R | MONEY, NULL, "contract amount in yuan"},
    {"balance", R | MONEY, NULL, "outstanding principal in yuan"},
    {"rate", R | RATE, NULL, "annual interest rate in percent"},
    {"start_date", R | DATE, NULL, "value date"},
    {"maturity_date", R | DATE, NULL, "maturity"},
    {"five_class", R, &tb__gen_ct_five_class, "five-level classification"},
    {"overdue_days", R | INT, NULL, "days past due (0 when current); consistent with five_class"},
    {"guarantee_type", R, &tb__gen_ct_guarantee, "main guarantee"},
    {"org_id", R, NULL, "lending outlet"},
};

static const gen_col card_cols[] = {
    {"card_no", R | GC_LUHN, NULL, "16-digit card number (Luhn-valid, issuer BIN)"},
    {"card_cust_no", R, NULL, "the card system's own customer number (C + 12 digits)"},
    {"id_type", R | NODIRT, &tb__gen_ct_id_type, "always 101"},
    {"id_no", R | GC_IDTYPE, NULL, "card holder's resident ID: the only link to the core system"},
    {"cust_name", R, NULL, "card holder's name"},
    {"mobile", R | GC_MOBILE, NULL, "mobile as known to the card system (may differ from core)"},
    {"product_code", R, &tb__gen_ct_card_product, "card product"},
    {"credit_limit", R | MONEY, NULL, "credit limit in yuan"},
    {"used_amt", R | MONEY, NULL, "amount used in yuan"},
    {"card_status", R, &tb__gen_ct_card_status, "status"},
    {"open_date", R | DATE, NULL, "issue date"},
    {"expire_date", R | DATE, NULL, "last day of the expiry month"},
};

static const gen_col wealth_cols[] = {
    {"holding_id", R, NULL, "holding id (20 digits)"},
    {"cust_no", R, NULL, "holder"},
    {"product_code", R, &tb__gen_ct_wm_product, "wealth-management product"},
    {"product_risk", R, &tb__gen_ct_risk, "product risk level (R1-R5)"},
    {"amount", R | MONEY, NULL, "holding in yuan"},
    {"buy_date", R | DATE, NULL, "purchase date"},
    {"maturity_date", DATE, NULL, "maturity; NULL for open-ended products"},
    {"org_id", R, NULL, "selling outlet"},
};

static const gen_col fund_cols[] = {
    {"holding_id", R, NULL, "holding id (20 digits)"},
    {"cust_no", R, NULL, "holder"},
    {"fund_code", R, &tb__gen_ct_fund, "6-digit fund code"},
    {"shares", R | MONEY, NULL, "shares held (2 decimals)"},
    {"nav", R | RATE, NULL, "net asset value per share at the batch date"},
    {"market_value", R | MONEY, NULL, "shares x nav, yuan"},
    {"first_buy_date", R | DATE, NULL, "first purchase"},
};

static const gen_col ins_cols[] = {
    {"policy_no", R, NULL, "policy number (20 digits)"},
    {"cust_no", R, NULL, "policy holder"},
    {"ins_type", R, &tb__gen_ct_ins_type, "insurance type"},
    {"insurer_code", R, &tb__gen_ct_insurer, "insurer (bancassurance partner)"},
    {"annual_premium", R | MONEY, NULL, "annual premium in yuan"},
    {"sum_insured", R | MONEY, NULL, "sum insured in yuan"},
    {"pay_years", R | INT, NULL, "premium payment years"},
    {"start_date", R | DATE, NULL, "effective date"},
    {"end_date", DATE, NULL, "end of cover; NULL for whole-life"},
};

static const gen_col metal_cols[] = {
    {"holding_id", R, NULL, "holding id (20 digits)"},
    {"cust_no", R, NULL, "holder"},
    {"metal_code", R, &tb__gen_ct_metal, "metal product"},
    {"weight_g", R | MONEY, NULL, "grams held (2 decimals)"},
    {"market_value", R | MONEY, NULL, "yuan at the batch date's price"},
    {"first_buy_date", R | DATE, NULL, "first purchase"},
};

static const gen_col payroll_cols[] = {
    {"cust_no", R, NULL, "employee (retail customer)"},
    {"employer_cust_no", R, NULL, "employer (corporate customer)"},
    {"acct_no", R, NULL, "salary account (deposits.acct_no)"},
    {"monthly_salary", R | MONEY, NULL, "net monthly pay in yuan"},
    {"pay_months", R | INT, NULL, "months paid in the last 12"},
    {"last_pay_date", R | DATE, NULL, "last pay day"},
};

static const gen_col etc_cols[] = {
    {"etc_card_no", R, NULL, "ETC card number (20 digits)"},
    {"cust_no", R, NULL, "holder"},
    {"plate_no", R, NULL, "licence plate (e.g. 粤B3K7Q2)"},
    {"vehicle_type", R, &tb__gen_ct_vehicle, "vehicle class"},
    {"bind_acct_no", R, NULL, "debited account (deposits.acct_no)"},
    {"open_date", R | DATE, NULL, "issue date"},
    {"etc_status", R, &tb__gen_ct_etc_status, "status"},
};

static const gen_col txn_cols[] = {
    {"txn_id", R, NULL, "transaction id (batch date + 14 digits)"},
    {"txn_time", R | GC_TS, NULL,
     "yyyy-MM-dd HH:mm:ss, Asia/Shanghai, in the 30 days to the batch date"},
    {"cust_no", R, NULL, "account owner"},
    {"acct_no", R, NULL, "account (deposits.acct_no)"},
    {"direction", R, &tb__gen_ct_direction, "D money out, C money in"},
    {"amount", R | MONEY, NULL, "amount in yuan, > 0"},
    {"channel", R, &tb__gen_ct_channel, "channel"},
    {"txn_type", R, &tb__gen_ct_txn_type, "transaction type"},
    {"counterparty", 0, NULL, "counterparty name; NULL when none"},
    {"summary", R, NULL, "free text (may contain an ASCII comma or double quote)"},
};

static const gen_col court_cols[] = {
    {"id_type", R | NODIRT, &tb__gen_ct_id_type, "101 person, 201 company"},
    {"id_no", R | GC_IDTYPE, NULL, "resident ID or credit code: the key (no customer number)"},
    {"party_name", R, NULL, "name of the party"},
    {"case_no", R, NULL, "court case number, e.g. (2025)粤0305执1234号"},
    {"enforce_type", R, &tb__gen_ct_enforce, "kind of listing"},
    {"filing_date", R | DATE, NULL, "filing date"},
    {"exec_amount", R | MONEY, NULL, "amount to enforce in yuan"},
    {"case_status", R, &tb__gen_ct_case_status, "status"},
};

static const gen_col bizreg_cols[] = {
    {"uscc", R | GC_USCC, NULL, "unified social credit code: the key"},
    {"ent_name", R, NULL, "registered name"},
    {"ent_type", R, &tb__gen_ct_ent_type, "enterprise type"},
    {"reg_status", R, &tb__gen_ct_reg_status, "registration status"},
    {"est_date", R | DATE, NULL, "date established"},
    {"reg_capital", R | MONEY, NULL, "registered capital in 10 000 yuan (万元)"},
    {"legal_rep", R, NULL, "legal representative / operator"},
    {"industry_code", R, &tb__gen_ct_industry, "registered industry"},
    {"region_code", R, &tb__gen_ct_county, "registration county"},
    {"abnormal_flag", R, &tb__gen_ct_flag, "on the abnormal-operation list"},
};

static const gen_col model_cols[] = {
    {"cust_no", R, NULL, "retail customer (primary number)"},
    {"churn_score", R | RATE, NULL, "probability of attrition in 90 days, 0..1"},
    {"fund_propensity", R | RATE, NULL, "propensity to buy a fund, 0..1"},
    {"loan_propensity", R | RATE, NULL, "propensity to take a consumer loan, 0..1"},
    {"card_propensity", R | RATE, NULL, "propensity to take a credit card, 0..1"},
    {"model_version", R, NULL, "scoring model version"},
    {"score_date", R | DATE, NULL, "scoring date (the batch date)"},
};

static const gen_col truth_cols[] = {
    {"system", R, &tb__gen_ct_system, "which system's identifier"},
    {"sys_id", R, NULL, "the identifier in that system"},
    {"entity_type", R, &tb__gen_ct_entity_type, "person or company"},
    {"entity_id", R, NULL, "the true entity: P + 11 digits (person) or E + 11 digits (company)"},
};

const gen_file_spec tb__gen_files[GF_COUNT] = {
    [GF_REGION] = FILE_SPEC("regions", "region", "reference", "region_code", 0, 0, regions_cols,
                            "administrative regions used by the data"),
    [GF_ORG] = FILE_SPEC("orgs", "org", "reference", "org_id", 0, 0, orgs_cols,
                         "the bank's org tree: head office, branches, sub-branches, outlets"),
    [GF_MGR] = FILE_SPEC("managers", "manager", "reference", "mgr_id", 0, 0, mgr_cols,
                         "customer managers"),
    [GF_GROUP] = FILE_SPEC("groups", "corporate_group", "reference", "group_id", 0, 0, group_cols,
                           "corporate groups"),
    [GF_CUST] = FILE_SPEC("customers", "customer", "mart", "cust_no", 1, 0, cust_cols,
                          "core customer master"),
    [GF_HOUSEHOLD] = FILE_SPEC("households", "household", "mart", "cust_no", 1, 0, household_cols,
                               "household membership of retail customers"),
    [GF_DEP] = FILE_SPEC("deposits", "deposit", "mart", "acct_no", 1, 0, dep_cols,
                         "demand and time deposit accounts"),
    [GF_LOAN] = FILE_SPEC("loans", "loan", "mart", "loan_no", 1, 0, loan_cols, "loans"),
    [GF_CARD] = FILE_SPEC("cards", "credit_card", "mart", "card_no", 1, 1, card_cols,
                          "credit cards, from the card system"),
    [GF_WEALTH] = FILE_SPEC("wealth", "wealth", "mart", "holding_id", 1, 0, wealth_cols,
                            "wealth-management holdings"),
    [GF_FUND] =
        FILE_SPEC("funds", "fund", "mart", "holding_id", 1, 0, fund_cols, "mutual fund holdings"),
    [GF_INS] = FILE_SPEC("insurance", "insurance", "mart", "policy_no", 1, 0, ins_cols,
                         "bancassurance policies"),
    [GF_METAL] = FILE_SPEC("metals", "precious_metal", "mart", "holding_id", 1, 0, metal_cols,
                           "precious-metal holdings"),
    [GF_PAYROLL] = FILE_SPEC("payroll", "payroll", "mart", "cust_no", 1, 0, payroll_cols,
                             "payroll (代发) relationships"),
    [GF_ETC] = FILE_SPEC("etc", "etc", "mart", "etc_card_no", 1, 0, etc_cols,
                         "ETC (electronic toll) cards"),
    [GF_TXN] = FILE_SPEC("transactions", "transaction", "mart", "txn_id", 1, 0, txn_cols,
                         "account transactions of the 30 days to the batch date"),
    [GF_COURT] = FILE_SPEC("ext_court", "court_enforcement", "external", "id_no", 1, 0, court_cols,
                           "external: court enforcement listings"),
    [GF_BIZREG] = FILE_SPEC("ext_bizreg", "business_registration", "external", "uscc", 1, 0,
                            bizreg_cols, "external: business registration"),
    [GF_MODEL] = FILE_SPEC("model_scores", "model_score", "model", "cust_no", 1, 0, model_cols,
                           "mining-model scores"),
    [GF_TRUTH] = FILE_SPEC("truth", "identity_truth", "truth", "sys_id", 0, 0, truth_cols,
                           "ground truth: every system identifier to its true entity"),
    [GF_EVENTS] = {"events", "app_event", "events", "_track_id", 0, 0, 0, NULL,
                   "mobile-banking tracking events (JSON Lines)"},
};
