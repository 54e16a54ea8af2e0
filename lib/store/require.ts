// require() for optional dependencies, relative to this package. The ESM build has no `require`:
// it uses require.esm.ts in place of this file (scripts/build.mjs).
export const requireFromPackage: (id: string) => unknown = require
