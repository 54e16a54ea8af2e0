// require() for optional dependencies in the ESM build, made from this module's URL (see require.ts).
import { createRequire } from 'node:module'

export const requireFromPackage: (id: string) => unknown = createRequire(import.meta.url)
