/** The same shape as `T`, every leaf a string: what a translation of `T` must be. */
export type DeepStringRecord<T> = {
  [K in keyof T]: T[K] extends string ? string : DeepStringRecord<T[K]>;
};
