// ESLint (pinned in package.json) over our own JavaScript: the worker
// runtime, the playground's sources, the JS client and the JS tests. It runs
// as the ctest `lint_js` (label lint). The point is names: a call to a
// function that is no longer imported (issue 19: worker.mjs's encodeFrame)
// or a binding nothing reads fails the lint, not a user's run.
import js from "@eslint/js";
import globals from "globals";

// Unused names are errors, except ones that say they are unused on purpose
// (a leading underscore) and the rest siblings of a destructuring that drops
// a key.
const unused = ["error", {
  args: "after-used",
  argsIgnorePattern: "^_",
  varsIgnorePattern: "^_",
  caughtErrors: "none",
  ignoreRestSiblings: true,
}];

const rules = {
  ...js.configs.recommended.rules,
  "no-undef": "error",
  "no-unused-vars": unused,
  // `while (true)` with a break or return inside is the loop the runtime's
  // readers and the tests' pollers are written as.
  "no-constant-condition": ["error", { checkLoops: false }],
  // An empty catch with a comment is the one way the code says "this may
  // fail and that is fine" (private mode, a closed pipe); an empty block
  // without one is still reported.
  "no-empty": ["error", { allowEmptyCatch: true }],
  // The tests match expected text (a traceback's indented lines) with
  // regexes that spell the text out as it is printed.
  "no-regex-spaces": "off",
};

export default [
  // Generated and vendored code is not ours to lint: build output, the
  // npm tree, Pyodide's files copied into the build.
  { ignores: ["node_modules/**", "build/**", "build-*/**", "**/dist/**"] },
  {
    // Node: the worker runtime (server-side workers and their threads), the
    // playground's build scripts, the JS client, the JS tests.
    files: [
      "wasm/runtime/*.mjs",
      "web/*.mjs",
      "clients/js/*.mjs",
      "tests/**/*.mjs",
    ],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.node },
    },
    rules,
  },
  {
    // The playground's page code runs in a browser.
    files: ["web/app.js", "web/src/*.js"],
    ignores: ["web/src/engine-worker.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules,
  },
  {
    // The browser engine's interpreter runs in a Web Worker.
    files: ["web/src/engine-worker.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.worker },
    },
    rules,
  },
  {
    // The browser tests hand functions to page.evaluate(): they run in the
    // page, so they see the page's globals as well as Node's.
    files: ["tests/browser/*.mjs"],
    languageOptions: {
      globals: { ...globals.node, ...globals.browser },
    },
  },
  {
    // heap-cap.mjs is shared by the Node workers and the browser engine:
    // it may use only what both have.
    files: ["wasm/runtime/heap-cap.mjs"],
    languageOptions: {
      globals: { ...globals["shared-node-browser"] },
    },
  },
];
