// ESLint (flat config): typescript-eslint's recommended rules and React's hooks rules for
// the app, and the browser scripts in e2e/. `npm run lint`; warnings fail it too.
//
// typescript-eslint parses with TypeScript's JavaScript API, which TypeScript 7 (the
// native compiler that `npm run typecheck` and the build use, installed as `typescript7`)
// does not have: `typescript` is @typescript/typescript6, the API package meant to sit
// beside 7, as Microsoft recommends. The scripts name TypeScript 7's tsc by path, since
// both packages ship a `tsc`.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'
import reactHooks from 'eslint-plugin-react-hooks'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'e2e/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
    ...reactHooks.configs.flat.recommended,
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    rules: {
      // `_`-prefixed names say "deliberately unused" (tsc's noUnused* checks the rest).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Node scripts whose page.evaluate() callbacks run in the browser.
    files: ['e2e/**/*.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ['*.config.{js,ts}'],
    languageOptions: { globals: globals.node },
  },
)
