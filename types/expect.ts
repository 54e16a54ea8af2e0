// Type-test helpers: exact type equality, checked by the compiler.
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
export function expectTrue<T extends true> (): T | undefined { return undefined }
export function expectType<T> (value: T): T { return value }
