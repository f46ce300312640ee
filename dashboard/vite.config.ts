import { defineConfig } from "vite";

// Served by cairn at /dashboard/ from assets compiled into the binary.
// Content-hashed file names: the same sources always give the same dist/,
// and hashed assets can be cached forever (index.html is revalidated).
export default defineConfig({
  base: "/dashboard/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 400,
  },
  // `npm run dev` next to `make demo SERVE=1`: API calls go to the demo.
  server: {
    proxy: { "/v1": process.env.CAIRN_API ?? "http://127.0.0.1:8080" },
  },
});
