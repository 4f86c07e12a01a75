// heap_base: first byte past the module's static data; the runtime's arena starts at or after it.
export function heap_base(): usize {
  return __heap_base;
}
