// vite.config.js — the console's build: web/dist, served by `tagbase serve` at "/" (docs/console.md).
// Hashed file names under assets/ (the server caches them as immutable), no inline scripts (the
// server's Content-Security-Policy allows scripts from the same origin only).
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        manualChunks: {
          vue: ['vue', 'vue-router'],
          'element-plus': ['element-plus'],
          echarts: ['echarts/core', 'echarts/charts', 'echarts/components', 'echarts/renderers'],
        },
      },
    },
  },
  server: {
    // `npm run dev` next to a running `tagbase serve` on the default address
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
