// router.js — the console's screens; each needs a permission, and the navigation shows only the
// screens the logged-in role may open (the server checks again on every call).
import { createRouter, createWebHistory } from 'vue-router';
import { session, restore, can, features, probeFeatures } from './api.js';
import Login from './views/Login.vue';
import Tags from './views/Tags.vue';
import Finder from './views/Finder.vue';
import Segments from './views/Segments.vue';
import Customer from './views/Customer.vue';
import Pipeline from './views/Pipeline.vue';
import Audit from './views/Audit.vue';
import Approvals from './views/Approvals.vue';
import Behaviour from './views/Behaviour.vue';

export const screens = [
  { path: '/tags', name: 'tags', component: Tags, perm: 'tag.read', icon: 'PriceTag' },
  { path: '/finder', name: 'finder', component: Finder, perm: 'seg.read', icon: 'Search' },
  { path: '/segments', name: 'segments', component: Segments, perm: 'seg.read', icon: 'User' },
  { path: '/customer', name: 'customer', component: Customer, perm: 'customer.view', icon: 'Postcard' },
  { path: '/behaviour', name: 'behaviour', component: Behaviour, perm: 'seg.read', feature: 'events', icon: 'TrendCharts' },
  { path: '/pipeline', name: 'pipeline', component: Pipeline, perm: 'pipeline.read', icon: 'Histogram' },
  { path: '/audit', name: 'audit', component: Audit, perm: 'audit.read', icon: 'Document' },
  { path: '/approvals', name: 'approvals', component: Approvals, perm: null, icon: 'Stamp' },
];

export function allowedScreens() {
  return screens.filter((s) => (!s.perm || can(s.perm)) && (!s.feature || features[s.feature]));
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: Login },
    ...screens.map((s) => ({ path: s.path, name: s.name, component: s.component, meta: { perm: s.perm, feature: s.feature } })),
    { path: '/customer/:id', name: 'customer-id', component: Customer, meta: { perm: 'customer.view' } },
    { path: '/:rest(.*)*', name: 'home', component: { render: () => null } },
  ],
});

router.beforeEach(async (to) => {
  if (to.name === 'login') return true;
  if (!(await restore())) return { name: 'login', query: session.expired ? { expired: '1' } : {} };
  if (session.user.must_change_password) return { name: 'login', query: { change: '1' } };
  await probeFeatures();
  if ((to.meta.perm && !can(to.meta.perm)) || (to.meta.feature && !features[to.meta.feature])) {
    const first = allowedScreens()[0];
    return first ? { path: first.path } : { name: 'login' };
  }
  if (to.name === 'home') {
    const first = allowedScreens()[0];
    return first ? { path: first.path } : { name: 'login' };
  }
  return true;
});
