/* tables.c — the generator's static knowledge: regions, names, code tables, BINs, products. */
#include <pthread.h>
#include <string.h>

#include "gen/gen_int.h"

/* Real county-level codes (GB/T 2260) of the provinces the bank has branches in, plus a few
 * more that only appear as birthplaces in ID numbers. Ordered by province so that the code
 * tables built from it are stable. */
const gen_region tb__gen_regions[] = {
    {"110101", "北京市", "北京市", "东城区"},
    {"110102", "北京市", "北京市", "西城区"},
    {"110105", "北京市", "北京市", "朝阳区"},
    {"110106", "北京市", "北京市", "丰台区"},
    {"110108", "北京市", "北京市", "海淀区"},
    {"310101", "上海市", "上海市", "黄浦区"},
    {"310104", "上海市", "上海市", "徐汇区"},
    {"310105", "上海市", "上海市", "长宁区"},
    {"310112", "上海市", "上海市", "闵行区"},
    {"310115", "上海市", "上海市", "浦东新区"},
    {"440103", "广东省", "广州市", "荔湾区"},
    {"440104", "广东省", "广州市", "越秀区"},
    {"440106", "广东省", "广州市", "天河区"},
    {"440303", "广东省", "深圳市", "罗湖区"},
    {"440304", "广东省", "深圳市", "福田区"},
    {"440305", "广东省", "深圳市", "南山区"},
    {"440604", "广东省", "佛山市", "禅城区"},
    {"440606", "广东省", "佛山市", "顺德区"},
    {"441900", "广东省", "东莞市", "东莞市"},
    {"440402", "广东省", "珠海市", "香洲区"},
    {"330102", "浙江省", "杭州市", "上城区"},
    {"330106", "浙江省", "杭州市", "西湖区"},
    {"330108", "浙江省", "杭州市", "滨江区"},
    {"330203", "浙江省", "宁波市", "海曙区"},
    {"330212", "浙江省", "宁波市", "鄞州区"},
    {"330302", "浙江省", "温州市", "鹿城区"},
    {"330602", "浙江省", "绍兴市", "越城区"},
    {"320102", "江苏省", "南京市", "玄武区"},
    {"320104", "江苏省", "南京市", "秦淮区"},
    {"320106", "江苏省", "南京市", "鼓楼区"},
    {"320505", "江苏省", "苏州市", "虎丘区"},
    {"320508", "江苏省", "苏州市", "姑苏区"},
    {"320213", "江苏省", "无锡市", "梁溪区"},
    {"320402", "江苏省", "常州市", "天宁区"},
    {"370102", "山东省", "济南市", "历下区"},
    {"370103", "山东省", "济南市", "市中区"},
    {"370202", "山东省", "青岛市", "市南区"},
    {"370203", "山东省", "青岛市", "市北区"},
    {"370602", "山东省", "烟台市", "芝罘区"},
    {"370702", "山东省", "潍坊市", "潍城区"},
    {"510104", "四川省", "成都市", "锦江区"},
    {"510105", "四川省", "成都市", "青羊区"},
    {"510107", "四川省", "成都市", "武侯区"},
    {"510703", "四川省", "绵阳市", "涪城区"},
    {"511302", "四川省", "南充市", "顺庆区"},
    {"420102", "湖北省", "武汉市", "江岸区"},
    {"420106", "湖北省", "武汉市", "武昌区"},
    {"420111", "湖北省", "武汉市", "洪山区"},
    {"420502", "湖北省", "宜昌市", "西陵区"},
    {"420602", "湖北省", "襄阳市", "襄城区"},
    {"410102", "河南省", "郑州市", "中原区"},
    {"410105", "河南省", "郑州市", "金水区"},
    {"410302", "河南省", "洛阳市", "老城区"},
    {"410702", "河南省", "新乡市", "红旗区"},
    {"350102", "福建省", "福州市", "鼓楼区"},
    {"350203", "福建省", "厦门市", "思明区"},
    {"350206", "福建省", "厦门市", "湖里区"},
    {"350502", "福建省", "泉州市", "鲤城区"},
    {"430102", "湖南省", "长沙市", "芙蓉区"},
    {"430104", "湖南省", "长沙市", "岳麓区"},
    {"430202", "湖南省", "株洲市", "荷塘区"},
    {"430405", "湖南省", "衡阳市", "珠晖区"},
    {"610102", "陕西省", "西安市", "新城区"},
    {"610113", "陕西省", "西安市", "雁塔区"},
    {"610302", "陕西省", "宝鸡市", "渭滨区"},
    {"120101", "天津市", "天津市", "和平区"},
    {"120104", "天津市", "天津市", "南开区"},
    {"500103", "重庆市", "重庆市", "渝中区"},
    {"500106", "重庆市", "重庆市", "沙坪坝区"},
    {"130102", "河北省", "石家庄市", "长安区"},
    {"130202", "河北省", "唐山市", "路南区"},
    {"130602", "河北省", "保定市", "竞秀区"},
    {"340102", "安徽省", "合肥市", "瑶海区"},
    {"340104", "安徽省", "合肥市", "蜀山区"},
    {"340202", "安徽省", "芜湖市", "镜湖区"},
    {"210102", "辽宁省", "沈阳市", "和平区"},
    {"210202", "辽宁省", "大连市", "中山区"},
    {"230102", "黑龙江省", "哈尔滨市", "道里区"},
    {"360102", "江西省", "南昌市", "东湖区"},
    {"360702", "江西省", "赣州市", "章贡区"},
    {"450102", "广西壮族自治区", "南宁市", "兴宁区"},
    {"450302", "广西壮族自治区", "桂林市", "秀峰区"},
    {"530102", "云南省", "昆明市", "五华区"},
    {"140105", "山西省", "太原市", "小店区"},
    {"220102", "吉林省", "长春市", "南关区"},
    {"520102", "贵州省", "贵阳市", "南明区"},
    {"620102", "甘肃省", "兰州市", "城关区"},
    {"150102", "内蒙古自治区", "呼和浩特市", "新城区"},
};
const unsigned tb__gen_nregions = sizeof tb__gen_regions / sizeof tb__gen_regions[0];

#define NREG (sizeof tb__gen_regions / sizeof tb__gen_regions[0])

const char *const tb__gen_branch_prov[GEN_BRANCHES] = {"44", "32", "33", "37", "11", "31",
                                                       "51", "41", "42", "35", "43", "61"};
const unsigned tb__gen_branch_weight[GEN_BRANCHES] = {16, 13, 12, 10, 8, 8, 8, 8, 6, 5, 4, 2};

gen_outlet tb__gen_outlets[GEN_NOUTLETS];

/* ---- names --------------------------------------------------------------------------------- */

/* The most common surnames with their approximate share (per 10 000) of the population. */
const char *const tb__gen_surnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",   "徐",   "孙",   "马",
    "朱", "胡", "郭", "何", "林", "高", "罗", "郑", "梁", "谢",   "宋",   "唐",   "许",
    "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁",   "潘",   "于",   "蒋",
    "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",   "沈",   "姚",   "卢",
    "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖",   "贾",   "夏",   "韦",
    "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹",   "薛",   "闫",   "段",
    "雷", "侯", "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝",   "龚",   "邵",   "万",
    "钱", "严", "覃", "武", "戴", "莫", "孔", "向", "汤", "欧阳", "司马", "诸葛", "上官",
};
static const unsigned surname_w[] = {
    710, 700, 670, 540, 450, 420, 220, 220, 200, 190, 160, 150, 140, 130, 130, 120, 110, 110,
    110, 100, 100, 90,  80,  80,  80,  70,  70,  70,  70,  70,  70,  60,  60,  60,  60,  50,
    50,  50,  50,  50,  50,  50,  50,  50,  40,  40,  40,  40,  40,  40,  40,  40,  40,  40,
    40,  40,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,  30,
    30,  30,  30,  20,  20,  20,  20,  20,  20,  20,  20,  20,  20,  20,  20,  20,  20,  20,
    20,  20,  20,  20,  20,  20,  20,  20,  20,  20,  5,   2,   2,   2,
};
const unsigned tb__gen_nsurnames = sizeof tb__gen_surnames / sizeof tb__gen_surnames[0];
unsigned tb__gen_surname_cum[sizeof surname_w / sizeof surname_w[0]];
_Static_assert(sizeof surname_w / sizeof surname_w[0] ==
                   sizeof tb__gen_surnames / sizeof tb__gen_surnames[0],
               "a weight per surname");

const char *const tb__gen_given_m[] = {
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉",
    "鹏", "华", "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭",
    "宁", "龙", "林", "阳", "建", "国", "峰", "亮", "成", "志", "文", "东", "海",
    "晨", "博", "睿", "泽", "子", "嘉", "振", "德", "立", "新", "永",
};
const unsigned tb__gen_ngiven_m = sizeof tb__gen_given_m / sizeof tb__gen_given_m[0];
const char *const tb__gen_given_f[] = {
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "英", "玲", "桂", "燕", "萍", "红",
    "玉", "兰", "梅", "琳", "雪", "婷", "颖", "慧", "倩", "洁", "晶", "欣", "怡", "佳", "琪",
    "悦", "璐", "丹", "莉", "蓉", "薇", "瑶", "雨", "思", "梦", "晓", "文", "子", "嘉", "月",
};
const unsigned tb__gen_ngiven_f = sizeof tb__gen_given_f / sizeof tb__gen_given_f[0];

const char *const tb__gen_brand[] = {
    "华", "信", "达", "恒", "泰", "安", "鑫", "盛", "隆", "兴", "源", "宏", "远", "瑞", "通",
    "海", "天", "中", "建", "德", "金", "宇", "嘉", "新", "博", "创", "联", "丰", "汇", "诚",
};
const unsigned tb__gen_nbrand = sizeof tb__gen_brand / sizeof tb__gen_brand[0];

const char *const tb__gen_roads[] = {
    "人民路", "中山路",   "解放路",   "建设路", "和平路", "新华路", "长江路", "黄河路", "科技路",
    "学府路", "迎宾大道", "世纪大道", "滨江路", "文化路", "青年路", "东风路", "胜利路", "朝阳路",
};
const unsigned tb__gen_nroads = sizeof tb__gen_roads / sizeof tb__gen_roads[0];

const char *const tb__gen_shop[] = {"便利店", "餐饮店", "五金店", "服装店", "水果店",
                                    "理发店", "烟酒店", "药店",   "面馆",   "汽车维修部"};
const unsigned tb__gen_nshop = sizeof tb__gen_shop / sizeof tb__gen_shop[0];

const char *const tb__gen_card_bins[] = {"622575", "625802", "628262", "436742",
                                         "524047", "518710", "622155", "625969"};
const unsigned tb__gen_ncard_bins = sizeof tb__gen_card_bins / sizeof tb__gen_card_bins[0];

const char *const tb__gen_mobile_prefix[] = {
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "170", "173", "176", "177",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "198", "199",
};
const unsigned tb__gen_nmobile_prefix =
    sizeof tb__gen_mobile_prefix / sizeof tb__gen_mobile_prefix[0];

static char prov_code_s[NREG][7], city_code_s[NREG][7];
static const char *prov_codes[NREG], *prov_labels[NREG], *city_codes[NREG], *city_labels[NREG];
static const char *county_codes[NREG], *county_labels[NREG];
static unsigned region_prov[NREG], region_city[NREG];
static unsigned sub_region[GEN_BRANCHES][GEN_SUBS];
static unsigned outlet_region[GEN_BRANCHES][GEN_SUBS][GEN_OUTLETS];

gen_codes tb__gen_ct_province = {"province", 0, prov_codes, prov_labels};
gen_codes tb__gen_ct_city = {"city", 0, city_codes, city_labels};
gen_codes tb__gen_ct_county = {"region", 0, county_codes, county_labels};

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Builds the province, city and county code tables and the org tree's places from the region
 * table, so that each fact is written once. */
static void tables_build(void)
{
    unsigned np = 0, nc = 0;
    for (unsigned r = 0; r < NREG; r++) {
        const char *code = tb__gen_regions[r].code;
        char pc[7], cc[7];
        memcpy(pc, code, 2);
        memcpy(pc + 2, "0000", 5);
        memcpy(cc, code, 4);
        memcpy(cc + 4, "00", 3);
        unsigned p = 0, c = 0;
        while (p < np && strcmp(prov_code_s[p], pc) != 0)
            p++;
        if (p == np) {
            memcpy(prov_code_s[np], pc, 7);
            prov_codes[np] = prov_code_s[np];
            prov_labels[np] = tb__gen_regions[r].province;
            np++;
        }
        while (c < nc && strcmp(city_code_s[c], cc) != 0)
            c++;
        if (c == nc) {
            memcpy(city_code_s[nc], cc, 7);
            city_codes[nc] = city_code_s[nc];
            city_labels[nc] = tb__gen_regions[r].city;
            nc++;
        }
        region_prov[r] = p;
        region_city[r] = c;
        county_codes[r] = code;
        county_labels[r] = tb__gen_regions[r].county;
    }
    tb__gen_ct_province.n = np;
    tb__gen_ct_city.n = nc;
    tb__gen_ct_county.n = NREG;
    unsigned sum = 0;
    for (unsigned k = 0; k < tb__gen_nsurnames; k++)
        tb__gen_surname_cum[k] = sum += surname_w[k];

    for (unsigned b = 0; b < GEN_BRANCHES; b++) {
        /* the province's cities in table order, and each city's counties */
        unsigned cities[16], ncity = 0;
        for (unsigned r = 0; r < NREG; r++) {
            if (memcmp(tb__gen_regions[r].code, tb__gen_branch_prov[b], 2) != 0) continue;
            unsigned k = 0;
            while (k < ncity && region_city[cities[k]] != region_city[r])
                k++;
            if (k == ncity && ncity < 16) cities[ncity++] = r;
        }
        for (unsigned s = 0; s < GEN_SUBS; s++) {
            unsigned first = cities[s % ncity];
            unsigned counties[16], ncounty = 0;
            for (unsigned r = 0; r < NREG && ncounty < 16; r++)
                if (region_city[r] == region_city[first]) counties[ncounty++] = r;
            sub_region[b][s] = counties[s % ncounty];
            for (unsigned o = 0; o < GEN_OUTLETS; o++) {
                unsigned reg = counties[(o + s) % ncounty];
                outlet_region[b][s][o] = reg;
                gen_outlet *ou = &tb__gen_outlets[(b * GEN_SUBS + s) * GEN_OUTLETS + o];
                /* 1 BB S OO: branch 01..12, sub-branch 1..4, outlet 01..05 */
                ou->org_id[0] = '1';
                ou->org_id[1] = (char)('0' + (b + 1) / 10);
                ou->org_id[2] = (char)('0' + (b + 1) % 10);
                ou->org_id[3] = (char)('1' + s);
                ou->org_id[4] = '0';
                ou->org_id[5] = (char)('1' + o);
                ou->org_id[6] = '\0';
                ou->region = reg;
                ou->branch = b;
            }
        }
    }
}

void tb__gen_tables_init(void)
{
    pthread_once(&tables_once, tables_build);
}

unsigned tb__gen_sub_region(unsigned b, unsigned s)
{
    return sub_region[b][s];
}

unsigned tb__gen_outlet_region(unsigned b, unsigned s, unsigned o)
{
    return outlet_region[b][s][o];
}

unsigned tb__gen_province_of(unsigned region)
{
    return region_prov[region];
}

unsigned tb__gen_city_of(unsigned region)
{
    return region_city[region];
}

const char *tb__gen_plate_prefix(unsigned region)
{
    static const char *const map[][2] = {
        {"11", "京"}, {"12", "津"}, {"13", "冀"}, {"14", "晋"}, {"15", "蒙"}, {"21", "辽"},
        {"22", "吉"}, {"23", "黑"}, {"31", "沪"}, {"32", "苏"}, {"33", "浙"}, {"34", "皖"},
        {"35", "闽"}, {"36", "赣"}, {"37", "鲁"}, {"41", "豫"}, {"42", "鄂"}, {"43", "湘"},
        {"44", "粤"}, {"45", "桂"}, {"50", "渝"}, {"51", "川"}, {"52", "贵"}, {"53", "云"},
        {"61", "陕"}, {"62", "甘"},
    };
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
        if (memcmp(map[k][0], tb__gen_regions[region].code, 2) == 0) return map[k][1];
    return "京";
}

unsigned tb__gen_pick_cum(tb__rng *r, const unsigned *cum, unsigned n)
{
    uint64_t x = tb__rng_below(r, cum[n - 1]);
    unsigned lo = 0, hi = n - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (x < cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- code tables --------------------------------------------------------------------------- */

#define UNPAREN(...) __VA_ARGS__
#define CT(var, nm, C, L)                                                                          \
    static const char *const var##_c[] = {UNPAREN C};                                              \
    static const char *const var##_l[] = {UNPAREN L};                                              \
    _Static_assert(sizeof var##_c == sizeof var##_l, #var " codes and labels differ");             \
    const gen_codes tb__gen_ct_##var = {nm, sizeof var##_c / sizeof var##_c[0], var##_c, var##_l}

CT(cust_type, "cust_type", ("1", "2", "3"), ("个人客户", "公司客户", "商户"));
CT(id_type, "id_type", ("101", "201"), ("居民身份证", "统一社会信用代码"));
CT(gender, "gender", ("1", "2"), ("男", "女"));
CT(occupation, "occupation", ("1", "2", "3", "4", "5", "6", "7", "8", "9"),
   ("党的机关、国家机关、群众团体和社会组织、企事业单位负责人", "专业技术人员",
    "办事人员和有关人员", "社会生产服务和生活服务人员", "农、林、牧、渔业生产及辅助人员",
    "生产制造及有关人员", "军人", "不便分类的其他从业人员", "学生、离退休及无业人员"));
CT(industry, "industry",
   ("A0111", "A0311", "B0610", "C1310", "C1511", "C1810", "C2614", "C2710", "C3311", "C3511",
    "C3670", "C3832", "C3911", "D4411", "E4700", "E4813", "F5123", "F5212", "F5261", "G5430",
    "G5810", "H6110", "H6210", "I6311", "I6513", "I6520", "K7010", "L7212", "M7320", "N7723",
    "P8331", "Q8411", "R8610"),
   ("稻谷种植", "牛的饲养", "烟煤和无烟煤开采洗选", "谷物磨制", "白酒制造", "机织服装制造",
    "有机化学原料制造", "化学药品原料药制造", "金属结构制造", "矿山机械制造",
    "汽车零部件及配件制造", "光伏设备及元器件制造", "计算机整机制造", "火力发电", "住宅房屋建筑",
    "市政道路工程建筑", "米、面制品及食用油批发", "百货零售", "家用电器零售", "道路货物运输",
    "装卸搬运", "旅游饭店", "正餐服务", "固定电信服务", "应用软件开发", "信息系统集成服务",
    "房地产开发经营", "企业管理咨询", "工程和技术研究和试验发展", "环境卫生管理", "普通高中教育",
    "综合医院", "新闻业"));
const char *const tb__gen_industry_word[] = {
    "农业",     "牧业",     "矿业",     "粮油",     "酒业",     "服饰",     "化工",
    "药业",     "钢构",     "重工",     "汽车部件", "新能源",   "电子科技", "电力",
    "建设",     "路桥工程", "粮油贸易", "百货",     "电器",     "物流",     "运输",
    "酒店管理", "餐饮管理", "通信",     "软件科技", "信息技术", "置业",     "企业管理咨询",
    "技术研究", "环境服务", "教育科技", "医疗管理", "文化传媒",
};
_Static_assert(sizeof tb__gen_industry_word / sizeof tb__gen_industry_word[0] == 33,
               "industry words parallel the industry codes");
CT(risk, "risk_level", ("R1", "R2", "R3", "R4", "R5"),
   ("保守型", "稳健型", "平衡型", "成长型", "进取型"));
CT(cust_status, "cust_status", ("1", "2", "3"), ("正常", "冻结", "睡眠"));
CT(relation, "household_relation", ("01", "02", "03", "04", "09"),
   ("户主", "配偶", "子女", "父母", "其他亲属"));
CT(dep_type, "dep_type", ("1", "2"), ("活期", "定期"));
CT(currency, "currency", ("CNY"), ("人民币"));
CT(acct_status, "acct_status", ("1", "2", "3"), ("正常", "冻结", "久悬"));
CT(loan_type, "loan_type", ("01", "02", "03", "04", "11", "12", "13", "14"),
   ("个人住房贷款", "个人消费贷款", "个人经营贷款", "个人汽车贷款", "流动资金贷款", "固定资产贷款",
    "贸易融资", "小微企业经营贷款"));
CT(five_class, "five_class", ("1", "2", "3", "4", "5"), ("正常", "关注", "次级", "可疑", "损失"));
CT(guarantee, "guarantee", ("1", "2", "3", "4"), ("信用", "保证", "抵押", "质押"));
CT(card_product, "card_product", ("01", "02", "03", "04"), ("普卡", "金卡", "白金卡", "钻石卡"));
CT(card_status, "card_status", ("N", "F", "L", "C"), ("正常", "冻结", "挂失", "销卡"));
CT(wm_product, "wm_product",
   ("WM100001", "WM100002", "WM200011", "WM200012", "WM200013", "WM300021", "WM300022", "WM300023",
    "WM400031", "WM400032", "WM500041"),
   ("天天利现金管理", "月月盈现金管理", "稳享90天", "稳享180天", "稳享365天", "鑫悦固收+一年",
    "鑫悦固收+两年", "多元配置三年", "权益增强一年", "量化对冲", "股票精选"));
const unsigned char tb__gen_wm_risk[] = {1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5};
CT(fund, "fund",
   ("000001", "110022", "161725", "005827", "519674", "001938", "003095", "260108", "163406",
    "110011", "000083", "000198", "050002", "217022"),
   ("华夏成长混合", "易方达消费行业股票", "招商中证白酒指数", "易方达蓝筹精选混合",
    "银河创新成长混合", "中欧时代先锋股票", "中欧医疗健康混合", "景顺长城新兴成长混合",
    "兴全合润混合", "易方达中小盘混合", "汇添富消费行业混合", "天弘余额宝货币", "博时沪深300指数",
    "招商产业债券"));
const int tb__gen_fund_nav[] = {12345, 48120, 9876,  21340, 35210, 14450, 22870,
                                29910, 18830, 51220, 41010, 10000, 13380, 16540};
CT(ins_type, "ins_type", ("01", "02", "03", "04", "05"),
   ("终身寿险", "年金保险", "重大疾病保险", "意外伤害保险", "医疗保险"));
CT(insurer, "insurer", ("CLIC", "PICC", "PAIC", "CPIC", "TPL", "NCI"),
   ("中国人寿", "中国人保", "中国平安", "中国太保", "太平人寿", "新华保险"));
CT(metal, "metal", ("AU9999", "AU9995", "AG9999", "PT9995"),
   ("黄金9999", "黄金9995", "白银9999", "铂金9995"));
CT(vehicle, "vehicle_type", ("1", "2", "3", "11", "12"),
   ("一型客车", "二型客车", "三型客车", "一型货车", "二型货车"));
CT(etc_status, "etc_status", ("1", "2", "3"), ("正常", "挂失", "注销"));
CT(direction, "direction", ("D", "C"), ("借(支出)", "贷(收入)"));
CT(channel, "channel", ("01", "02", "03", "04", "05", "06"),
   ("柜面", "网上银行", "手机银行", "ATM", "POS", "第三方支付"));
CT(txn_type, "txn_type", ("100", "110", "120", "200", "210", "300", "310", "400", "500"),
   ("转账汇款", "代发工资", "还款", "消费", "网络支付", "存现", "取现", "利息", "代收代付"));
CT(enforce, "enforce_type", ("01", "02", "03"), ("被执行人", "失信被执行人", "限制高消费"));
CT(case_status, "case_status", ("1", "2"), ("执行中", "已结案"));
CT(ent_type, "ent_type", ("1100", "1200", "9100"), ("有限责任公司", "股份有限公司", "个体工商户"));
CT(reg_status, "reg_status", ("1", "2", "3", "4"), ("存续", "在业", "吊销", "注销"));
CT(flag, "flag", ("0", "1"), ("否", "是"));
CT(org_level, "org_level", ("1", "2", "3", "4"), ("总行", "分行", "支行", "网点"));
CT(position, "position", ("1", "2"), ("个人客户经理", "公司客户经理"));
CT(system, "system", ("CORE", "CARD", "DEVICE"),
   ("核心系统客户号", "信用卡系统客户号", "App设备号"));
CT(entity_type, "entity_type", ("P", "C"), ("自然人", "企业/商户"));
