// i18n.js — the console's two languages: Chinese (zh-CN, the default) and English, switched in the
// header and remembered in localStorage. t('key') for a message, name(x) for a catalog object's
// name_zh or name_en.
import { ref } from 'vue';

export const locale = ref(localStorage.getItem('tb_locale') === 'en' ? 'en' : 'zh');
export function setLocale(l) {
  locale.value = l;
  localStorage.setItem('tb_locale', l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}

const M = {
  zh: {
    app: 'tagbase 客户标签平台', login: '登录', logout: '退出', user: '用户名', password: '密码',
    newPassword: '新密码（至少10位）', changePassword: '修改一次性密码', mustChange: '首次登录请修改一次性密码',
    expired: '会话已过期，请重新登录', loggedOut: '已退出', badLogin: '用户名或密码错误',
    tags: '标签中心', finder: '搜客', segments: '客群', customer: '360°视图', pipeline: '数据管道',
    audit: '审计', behaviour: '行为分析', role: '角色', scope: '范围', loading: '加载中…',
    search: '搜索', searchTags: '搜索标签（代码、名称）', definition: '定义', type: '类型', valueType: '值类型',
    owner: '负责人', refresh: '更新频率', piClass: '个人金融信息类别', secLevel: '数据安全级别',
    lineage: '血缘', sources: '来源', coverage: '覆盖率', distribution: '取值分布', history: '版本历史',
    version: '版本', status: '状态', author: '作者', createdAt: '创建时间', events: '事件', action: '操作',
    actor: '操作人', at: '时间', comment: '意见', values: '取值', rule: '规则', description: '描述',
    edit: '编辑', saveDraft: '保存为草稿', submit: '提交审核', approve: '批准发布', reject: '驳回',
    pending: '待审核', allTags: '全部标签', customers: '客户数', stats: '统计', min: '最小', max: '最大',
    avg: '平均', and: '且 (AND)', or: '或 (OR)', addCond: '添加条件', addGroup: '添加条件组',
    remove: '删除', tag: '标签', operator: '运算', value: '值', count: '匹配客户数', expression: '表达式',
    applyText: '应用表达式', saveSegment: '保存为客群', importList: '导入名单', name: '名称',
    listText: '客户号列表（每行一个）', save: '保存', cancel: '取消', ok: '确定', saved: '已保存',
    segmentList: '客群列表', kind: '类型', batch: '批次', countHistory: '客户数变化', profile: '画像',
    profileBy: '按标签分布', overlap: '重叠', overlapWith: '与另一客群重叠', diff: '变化（较上一批次）',
    entered: '新进入', left: '离开', export: '导出', exportFields: '导出字段', members: '成员',
    onlyA: '仅A', onlyB: '仅B', both: '两者', searchCustomer: '客户号 / 证件号 / 手机号',
    golden: '黄金记录', attribute: '属性', source: '来源系统', asOf: '截至', masked: '已脱敏',
    tagsByTheme: '标签（按主题）', holdings: '持有产品', relations: '关系', customerSegments: '所属客群',
    lineageOf: '取值血缘', batches: '批次', file: '文件', businessType: '业务类型', modules: '五个模块',
    acquisition: '采集', aggregation: '汇聚', transmission: '传输', allocation: '分配', collection: '归集',
    valid: '有效', rejected: '拒绝（隔离）', quality: '质量分', rejectedByRule: '按规则拒绝',
    snapshot: '快照', auditTrail: '审计记录', verify: '校验审计链', chainOk: '审计链完整',
    chainBroken: '审计链被破坏', alerts: '异常访问告警', outcome: '结果', object: '对象', limit: '条数',
    noData: '暂无数据', error: '出错了', withValue: '有值标签', notFound: '未找到该客户',
    needApproval: '该导出需要审批', requestApproval: '申请审批', language: 'English',
    kindDynamic: '动态', kindStatic: '静态', draftSaved: '草稿已保存', submitted: '已提交审核', published: '已发布',
    rejectedMsg: '已驳回', json: '定义（JSON）', invalidJson: 'JSON 格式错误', isNull: '为空', notNull: '不为空',
    isTrue: '为是', isFalse: '为否', between: '介于', notBetween: '不介于', in: '属于', notIn: '不属于',
    funnel: '漏斗', paths: '路径', retention: '留存', from: '开始日期', to: '结束日期', defaultRange: '默认：有事件的最近7天',
    eventName: '事件名', addStep: '添加步骤', window: '窗口期', run: '分析', users: '用户数', convPrev: '较上一步转化率',
    convFirst: '总转化率', dropped: '流失', medianTime: '步骤间中位时长', after: '之后', before: '之前', depth: '深度',
    startEvent: '起始事件', returnEvent: '回访事件', days: '天数', cohort: '同期群', day: '第', total: '合计',
    started: '进入', converted: '完成',
    approvals: '审批', requester: '申请人', decidedBy: '审批人', approveShort: '批准', approvalId: '审批单号',
    requested: '已提交审批申请，单号', rows: '行数', quarantined: '隔离行', line: '行号', field: '字段',
  },
  en: {
    app: 'tagbase customer tag platform', login: 'Log in', logout: 'Log out', user: 'User', password: 'Password',
    newPassword: 'New password (10+ characters)', changePassword: 'Change the one-time password',
    mustChange: 'Change your one-time password first', expired: 'Your session has expired: log in again',
    loggedOut: 'Logged out', badLogin: 'Wrong user name or password',
    tags: 'Tag centre', finder: 'Find customers', segments: 'Segments', customer: '360° view', pipeline: 'Pipeline',
    audit: 'Audit', behaviour: 'Behaviour', role: 'Role', scope: 'Scope', loading: 'Loading…',
    search: 'Search', searchTags: 'Search tags (code, name)', definition: 'Definition', type: 'Type', valueType: 'Value type',
    owner: 'Owner', refresh: 'Refresh', piClass: 'PI class', secLevel: 'Security level',
    lineage: 'Lineage', sources: 'Sources', coverage: 'Coverage', distribution: 'Distribution', history: 'Version history',
    version: 'Version', status: 'Status', author: 'Author', createdAt: 'Created', events: 'Events', action: 'Action',
    actor: 'Actor', at: 'At', comment: 'Comment', values: 'Values', rule: 'Rule', description: 'Description',
    edit: 'Edit', saveDraft: 'Save as draft', submit: 'Submit for review', approve: 'Approve and publish', reject: 'Reject',
    pending: 'In review', allTags: 'All tags', customers: 'Customers', stats: 'Statistics', min: 'Min', max: 'Max',
    avg: 'Average', and: 'AND', or: 'OR', addCond: 'Add condition', addGroup: 'Add group',
    remove: 'Remove', tag: 'Tag', operator: 'Operator', value: 'Value', count: 'Matching customers', expression: 'Expression',
    applyText: 'Apply expression', saveSegment: 'Save as segment', importList: 'Import a list', name: 'Name',
    listText: 'Customer numbers (one per line)', save: 'Save', cancel: 'Cancel', ok: 'OK', saved: 'Saved',
    segmentList: 'Segments', kind: 'Kind', batch: 'Batch', countHistory: 'Count over time', profile: 'Profile',
    profileBy: 'Distribution by tag', overlap: 'Overlap', overlapWith: 'Overlap with another segment', diff: 'Change since the previous batch',
    entered: 'Entered', left: 'Left', export: 'Export', exportFields: 'Fields', members: 'Members',
    onlyA: 'Only A', onlyB: 'Only B', both: 'Both', searchCustomer: 'Customer number / ID number / mobile',
    golden: 'Golden record', attribute: 'Attribute', source: 'Source', asOf: 'As of', masked: 'Masked',
    tagsByTheme: 'Tags by theme', holdings: 'Holdings', relations: 'Relationships', customerSegments: 'Segments',
    lineageOf: 'Lineage of the value', batches: 'Batches', file: 'File', businessType: 'Business type', modules: 'Five modules',
    acquisition: 'Acquisition', aggregation: 'Aggregation', transmission: 'Transmission', allocation: 'Allocation', collection: 'Collection',
    valid: 'Valid', rejected: 'Rejected (quarantined)', quality: 'Quality', rejectedByRule: 'Rejected by rule',
    snapshot: 'Snapshot', auditTrail: 'Audit trail', verify: 'Verify the chain', chainOk: 'Audit chain intact',
    chainBroken: 'Audit chain broken', alerts: 'Access alerts', outcome: 'Outcome', object: 'Object', limit: 'Limit',
    noData: 'No data', error: 'Error', withValue: 'Tags with a value', notFound: 'No such customer',
    needApproval: 'This export needs an approval', requestApproval: 'Request approval', language: '中文',
    kindDynamic: 'dynamic', kindStatic: 'static', draftSaved: 'Draft saved', submitted: 'Submitted for review', published: 'Published',
    rejectedMsg: 'Rejected', json: 'Definition (JSON)', invalidJson: 'Invalid JSON', isNull: 'is null', notNull: 'is not null',
    isTrue: 'is true', isFalse: 'is false', between: 'between', notBetween: 'not between', in: 'in', notIn: 'not in',
    funnel: 'Funnel', paths: 'Paths', retention: 'Retention', from: 'From', to: 'To', defaultRange: 'default: the 7 newest days with events',
    eventName: 'Event', addStep: 'Add step', window: 'Window', run: 'Run', users: 'Users', convPrev: 'From previous',
    convFirst: 'From first', dropped: 'Dropped', medianTime: 'Median time from previous', after: 'After', before: 'Before', depth: 'Depth',
    startEvent: 'Start event', returnEvent: 'Return event', days: 'Days', cohort: 'Cohort', day: 'Day', total: 'Total',
    started: 'Started', converted: 'Converted',
    approvals: 'Approvals', requester: 'Requester', decidedBy: 'Decided by', approveShort: 'Approve', approvalId: 'Approval id',
    requested: 'Approval requested, id', rows: 'Rows', quarantined: 'Quarantined rows', line: 'Line', field: 'Field',
  },
};

export function t(key) {
  return (M[locale.value] && M[locale.value][key]) || M.zh[key] || key;
}

export function name(x) {
  if (!x) return '';
  return (locale.value === 'zh' ? x.name_zh || x.name_en : x.name_en || x.name_zh) || x.code || '';
}
