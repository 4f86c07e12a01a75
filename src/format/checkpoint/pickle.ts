import { fail } from '../../errors.js';
import type { FloatDtype } from './safetensors.js';

/**
 * A restricted unpickler for the `data.pkl` that torch.save writes (protocol 2; FRAME and
 * STACK_GLOBAL of protocol 4 are tolerated). A pickle is a program: this one executes nothing.
 * Only an allow-list of globals resolves, and "calling" them just builds plain descriptors.
 * Every opcode outside the supported set is refused, as are oversized memos, stacks and op counts.
 */

export interface StorageDescriptor {
  kind: 'storage';
  key: string; // -> zip entry `<prefix>/data/<key>`
  dtype: FloatDtype;
  location: string; // 'cpu', 'cuda:0', ...
  numel: number; // elements declared by the pickle (checked against the entry's size later)
}

export interface TensorDescriptor {
  kind: 'tensor';
  storageKey: string;
  dtype: FloatDtype;
  storageOffset: number; // in elements
  shape: number[];
  stride: number[];
  storage: StorageDescriptor;
}

/** A dict or OrderedDict, keeping insertion order. BUILD state (OrderedDict `_metadata`) lands in `attrs`. */
export class PickleDict {
  readonly map = new Map<PickleKey, PickleValue>();
  attrs: PickleValue = null;
}

export type PickleKey = string | number | boolean | bigint | null;

export type PickleValue =
  | null | boolean | number | bigint | string
  | PickleValue[] | PickleTuple | PickleDict
  | StorageDescriptor | TensorDescriptor | PickleGlobal;

/** Tuples are frozen arrays tagged so they can be told apart from lists. */
export interface PickleTuple extends ReadonlyArray<PickleValue> { readonly __tuple: true }

export interface PickleGlobal {
  kind: 'global';
  name: string; // "module.name"
}

/**
 * Bounds on what a pickle may make the unpickler hold, besides its bytes: every opcode may
 * allocate, so live objects, the items stored in containers, nesting and the memo are bounded,
 * not only the input size and the opcode count. instructor-xl's data.pkl (~40 KB, ~500 tensors)
 * uses a few thousand of each and nests 6 deep.
 */
export interface UnpickleLimits {
  maxOps: number;
  maxStack: number;
  maxMarkDepth: number;
  maxMemo: number; // largest memo index accepted, and most memo entries
  /** Items stored in all containers together (tuples, lists, dicts). */
  maxContainerItems: number;
  /** Objects created (containers, strings, descriptors, big integers). */
  maxObjects: number;
  /** Deepest nesting of containers. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: UnpickleLimits = {
  maxOps: 50_000_000,
  maxStack: 1_000_000,
  maxMarkDepth: 1_000,
  maxMemo: 1_000_000,
  maxContainerItems: 2_000_000,
  maxObjects: 250_000,
  maxDepth: 100,
};

const STORAGE_TYPES: Record<string, FloatDtype> = {
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
};

const CALLABLE_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
]);

function resolveGlobal(module: string, name: string, offset: number): PickleValue {
  const full = `${module}.${name}`;
  if (CALLABLE_GLOBALS.has(full) || full in STORAGE_TYPES) return { kind: 'global', name: full };
  let hint = '';
  if (full === 'torch.storage._load_from_bytes') hint = ' (a legacy torch.save pickle that embeds a nested pickle; re-save with a current PyTorch)';
  else if (/^torch\.\w+Storage$/.test(full)) hint = ' (only float32, float16 and bfloat16 tensors are supported)';
  fail('BAD_FILE', `pickle global "${full}" is not allowed at offset ${offset}${hint}; allowed: collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.FloatStorage, torch.HalfStorage, torch.BFloat16Storage`);
}

function isTuple(v: unknown): v is PickleTuple {
  return Array.isArray(v) && (v as unknown as { __tuple?: true }).__tuple === true;
}

function tuple(items: PickleValue[]): PickleTuple {
  Object.defineProperty(items, '__tuple', { value: true });
  return Object.freeze(items) as unknown as PickleTuple;
}

function isObj(v: unknown, kind: string): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PickleDict) && (v as { kind?: string }).kind === kind;
}

export function isTensor(v: unknown): v is TensorDescriptor {
  return isObj(v, 'tensor');
}

function intList(v: PickleValue, what: string): number[] {
  if (!isTuple(v) && !Array.isArray(v)) fail('BAD_FILE', `pickle: ${what} must be a tuple of integers, got ${describePickleValue(v)}`);
  const a = v as readonly PickleValue[];
  if (a.length > 32) fail('BAD_FILE', `pickle: ${what} has ${a.length} dimensions, expected at most 32`);
  return a.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail('BAD_FILE', `pickle: ${what} must hold non-negative integers, got ${describePickleValue(x)}`);
    return x;
  });
}

/** A pickle value in pickle's own words (None, tuple(2), list(3), dict), for messages about a hostile stream. */
function describePickleValue(v: unknown): string {
  if (v === null) return 'None';
  if (isTuple(v)) return `tuple(${v.length})`;
  if (Array.isArray(v)) return `list(${v.length})`;
  if (v instanceof PickleDict) return 'dict';
  if (typeof v === 'object') return String((v as { kind?: string }).kind ?? 'object');
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  return `${typeof v} ${String(v)}`;
}

/** What the allowed callables do: build descriptors, nothing else. */
function call(fn: PickleValue, args: PickleValue, offset: number): PickleValue {
  if (!isObj(fn, 'global')) fail('BAD_FILE', `pickle: REDUCE at offset ${offset} calls ${describePickleValue(fn)}, which is not callable`);
  if (!isTuple(args)) fail('BAD_FILE', `pickle: REDUCE at offset ${offset} expects an argument tuple, got ${describePickleValue(args)}`);
  const name = (fn as PickleGlobal).name;
  switch (name) {
    case 'collections.OrderedDict':
      if (args.length !== 0) fail('BAD_FILE', `pickle: OrderedDict called with ${args.length} arguments at offset ${offset}, expected none`);
      return new PickleDict();
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.length < 4 || args.length > 7) fail('BAD_FILE', `pickle: _rebuild_tensor_v2 called with ${args.length} arguments at offset ${offset}, expected 6 or 7`);
      const storage = args[0];
      if (!isObj(storage, 'storage')) fail('BAD_FILE', `pickle: _rebuild_tensor_v2 at offset ${offset} expects a storage, got ${describePickleValue(storage)}`);
      const st = storage as StorageDescriptor;
      const storageOffset = args[1];
      if (typeof storageOffset !== 'number' || !Number.isSafeInteger(storageOffset) || storageOffset < 0) {
        fail('BAD_FILE', `pickle: tensor storage offset must be a non-negative integer, got ${describePickleValue(storageOffset)}`);
      }
      const shape = intList(args[2], 'tensor size');
      const stride = intList(args[3], 'tensor stride');
      if (shape.length !== stride.length) fail('BAD_FILE', `pickle: tensor size [${shape.join(', ')}] and stride [${stride.join(', ')}] differ in length`);
      return { kind: 'tensor', storageKey: st.key, dtype: st.dtype, storageOffset, shape, stride, storage: st };
    }
    case 'torch._utils._rebuild_parameter': {
      // (data, requires_grad, backward_hooks): a Parameter is its data tensor here.
      if (args.length < 1 || !isTensor(args[0])) fail('BAD_FILE', `pickle: _rebuild_parameter at offset ${offset} expects a tensor, got ${describePickleValue(args[0])}`);
      return args[0];
    }
    default:
      fail('BAD_FILE', `pickle: global "${name}" is not callable (REDUCE at offset ${offset})`);
  }
}

function persistentLoad(pid: PickleValue, offset: number): StorageDescriptor {
  // ('storage', storage_type, key, location, numel)
  if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') {
    fail('BAD_FILE', `pickle: BINPERSID at offset ${offset} expects ('storage', type, key, location, numel), got ${describePickleValue(pid)}`);
  }
  const [, type, key, location, numel] = pid;
  if (!isObj(type, 'global') || !((type as PickleGlobal).name in STORAGE_TYPES)) {
    fail('BAD_FILE', `pickle: persistent storage at offset ${offset} has type ${describePickleValue(type)}, expected a float storage type`);
  }
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key) || key.includes('..')) {
    fail('BAD_FILE', `pickle: storage key ${describePickleValue(key)} at offset ${offset} is not a plain name`);
  }
  if (typeof location !== 'string') fail('BAD_FILE', `pickle: storage location ${describePickleValue(location)} at offset ${offset} is not a string`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    fail('BAD_FILE', `pickle: storage "${key}" declares ${describePickleValue(numel)} elements at offset ${offset}, expected a non-negative integer`);
  }
  return { kind: 'storage', key, dtype: STORAGE_TYPES[(type as PickleGlobal).name], location, numel };
}

function dictKey(k: PickleValue, offset: number): PickleKey {
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint') return k;
  fail('BAD_FILE', `pickle: dict key ${describePickleValue(k)} at offset ${offset} is not a string or number`);
}

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Runs the restricted unpickler over `data` and returns the top object (what STOP returns). */
export function unpickle(data: Uint8Array, limits: Partial<UnpickleLimits> = {}): PickleValue {
  const L = { ...DEFAULT_LIMITS, ...limits };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let stack: PickleValue[] = [];
  const marks: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let ops = 0;
  let op = 0;
  let opAt = 0;

  const need = (n: number): void => {
    if (pos + n > data.length) fail('BAD_FILE', `pickle: opcode ${OPNAMES[op] ?? op} at offset ${opAt} needs ${n} bytes but the pickle ends at ${data.length}; truncated`);
  };
  const u8 = (): number => { need(1); return data[pos++]; };
  const u16 = (): number => { need(2); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const i32 = (): number => { need(4); const v = dv.getInt32(pos, true); pos += 4; return v; };
  const u64 = (): number => {
    need(8);
    const v = dv.getUint32(pos + 4, true) * 2 ** 32 + dv.getUint32(pos, true);
    pos += 8;
    return v;
  };
  const str = (n: number): string => {
    need(n);
    let s: string;
    try {
      s = dec.decode(data.subarray(pos, pos + n));
    } catch {
      fail('BAD_FILE', `pickle: string at offset ${opAt} is not valid UTF-8`);
    }
    pos += n;
    return s;
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) fail('BAD_FILE', `pickle: GLOBAL at offset ${opAt} has no newline-terminated name within 256 bytes`);
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PickleValue): void => {
    if (stack.length >= L.maxStack) fail('BAD_FILE', `pickle: stack grows beyond ${L.maxStack} items at offset ${opAt}`);
    stack.push(v);
  };
  // Live objects, stored items and nesting (depth of a container: 1 + its deepest item).
  let objects = 0;
  let items = 0;
  const depthOf = new WeakMap<object, number>();
  const depth = (v: PickleValue): number => (typeof v === 'object' && v !== null ? depthOf.get(v) ?? 1 : 0);
  const created = <T extends PickleValue>(v: T): T => {
    if (++objects > L.maxObjects) fail('BAD_FILE', `pickle: more than ${L.maxObjects} objects at offset ${opAt}`);
    return v;
  };
  const stored = (container: object, added: readonly PickleValue[]): void => {
    items += added.length;
    if (items > L.maxContainerItems) fail('BAD_FILE', `pickle: containers hold more than ${L.maxContainerItems} items at offset ${opAt}`);
    let d = depthOf.get(container) ?? 1;
    for (const x of added) d = Math.max(d, depth(x) + 1);
    if (d > L.maxDepth) fail('BAD_FILE', `pickle: containers nest deeper than ${L.maxDepth} at offset ${opAt}`);
    depthOf.set(container, d);
  };
  const newTuple = (parts: PickleValue[]): PickleTuple => {
    const t = created(tuple(parts));
    stored(t, parts);
    return t;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('BAD_FILE', `pickle: stack underflow at offset ${opAt} (opcode ${OPNAMES[op] ?? op})`);
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) fail('BAD_FILE', `pickle: stack underflow at offset ${opAt} (opcode ${OPNAMES[op] ?? op} on an empty stack)`);
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    if (marks.length === 0) fail('BAD_FILE', `pickle: ${OPNAMES[op]} at offset ${opAt} has no MARK (stack underflow)`);
    const items = stack;
    stack = marks.pop() as PickleValue[];
    return items;
  };
  const memoPut = (idx: number): void => {
    if (idx > L.maxMemo) fail('BAD_FILE', `pickle: memo index ${idx} at offset ${opAt} is too large, expected at most ${L.maxMemo}`);
    if (!memo.has(idx) && memo.size >= L.maxMemo) fail('BAD_FILE', `pickle: memo grows beyond ${L.maxMemo} entries at offset ${opAt}`);
    memo.set(idx, top());
  };
  const memoGet = (idx: number): void => {
    if (!memo.has(idx)) fail('BAD_FILE', `pickle: memo index ${idx} at offset ${opAt} was never stored`);
    push(memo.get(idx) as PickleValue);
  };
  const setItems = (d: PickleValue, items: PickleValue[]): void => {
    if (!(d instanceof PickleDict)) fail('BAD_FILE', `pickle: ${OPNAMES[op]} at offset ${opAt} targets ${describePickleValue(d)}, expected a dict`);
    if (items.length % 2 !== 0) fail('BAD_FILE', `pickle: ${OPNAMES[op]} at offset ${opAt} has an odd number of items`);
    stored(d, items);
    for (let i = 0; i < items.length; i += 2) d.map.set(dictKey(items[i], opAt), items[i + 1]);
  };
  const appendItems = (l: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(l) || isTuple(l)) fail('BAD_FILE', `pickle: ${OPNAMES[op]} at offset ${opAt} targets ${describePickleValue(l)}, expected a list`);
    stored(l, items);
    for (const x of items) (l as PickleValue[]).push(x);
  };

  for (;;) {
    if (pos >= data.length) fail('BAD_FILE', `pickle: ended at offset ${pos} without STOP; truncated`);
    if (++ops > L.maxOps) fail('BAD_FILE', `pickle: more than ${L.maxOps} opcodes`);
    opAt = pos;
    op = data[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail('BAD_FILE', `pickle: protocol ${v} at offset ${opAt} is not supported, expected 2 to 5`);
        break;
      }
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x7d: push(created(new PickleDict())); break; // EMPTY_DICT
      case 0x5d: push(created([])); break; // EMPTY_LIST
      case 0x29: push(newTuple([])); break; // EMPTY_TUPLE
      case 0x28: // MARK
        if (marks.length >= L.maxMarkDepth) fail('BAD_FILE', `pickle: MARKs nested deeper than ${L.maxMarkDepth} at offset ${opAt}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      case 0x58: push(created(str(u32()))); break; // BINUNICODE
      case 0x8c: push(created(str(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: { // BINUNICODE8
        const n = u64();
        need(n);
        push(created(str(n)));
        break;
      }
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        if (n > 8) fail('BAD_FILE', `pickle: LONG1 of ${n} bytes at offset ${opAt} is too large, expected at most 8`);
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[pos + i]);
        if (n > 0 && data[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : created(v));
        break;
      }
      case 0x47: { // BINFLOAT (big-endian)
        need(8);
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4e: push(null); break; // NONE
      case 0x74: push(newTuple(popMark())); break; // TUPLE
      case 0x85: push(newTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); push(newTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); push(newTuple([a, b, c])); break; } // TUPLE3
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        push(created(resolveGlobal(module, name, opAt)));
        break;
      }
      case 0x93: { // STACK_GLOBAL (protocol 4; same allow-list)
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('BAD_FILE', `pickle: STACK_GLOBAL at offset ${opAt} expects two strings`);
        push(created(resolveGlobal(module, name, opAt)));
        break;
      }
      case 0x52: { const args = pop(), fn = pop(); push(created(call(fn, args, opAt))); break; } // REDUCE
      case 0x51: push(created(persistentLoad(pop(), opAt))); break; // BINPERSID
      case 0x62: { // BUILD: only OrderedDict state (its `_metadata`) is accepted, and kept inert.
        const state = pop();
        const obj = top();
        if (!(obj instanceof PickleDict)) fail('BAD_FILE', `pickle: BUILD at offset ${opAt} on ${describePickleValue(obj)}; only dict state is accepted`);
        stored(obj, [state]);
        obj.attrs = state;
        break;
      }
      default:
        fail('BAD_FILE', `pickle: opcode ${OPNAMES[op] ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}) at offset ${opAt} is not supported by the restricted unpickler`);
    }
  }
}
