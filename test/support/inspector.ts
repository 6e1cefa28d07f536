/**
 * The memory of a Worker's isolate in `wrangler dev`, read through its DevTools inspector
 * (`--inspector-port`): the Chrome DevTools protocol, which wrangler's inspector proxy forwards
 * to workerd's V8.
 *
 * `Runtime.getHeapUsage` gives the JavaScript heap and the backing stores of ArrayBuffers, but not
 * the linear memories of WebAssembly instances, which live outside both. Those are found with
 * `Runtime.queryObjects` (every live object whose prototype is `WebAssembly.Memory.prototype`;
 * V8 collects garbage first, so an instance the program dropped is not counted) and measured by
 * their `buffer.byteLength`.
 */

/** What an isolate holds, in bytes. */
export interface IsolateMemory {
  /** Live JavaScript objects (`usedSize`). */
  jsHeap: number
  /** ArrayBuffer and external string backing stores (`backingStorageSize`). */
  backingStores: number
  /** Each live WebAssembly.Memory's size. */
  wasmMemories: number[]
  /** The sum of the above. */
  total: number
}

/** A DevTools session with a Worker's isolate. */
export interface IsolateInspector {
  /** Measures the isolate now (it runs a garbage collection; about 0.2 s on this machine). */
  memory(): Promise<IsolateMemory>
  close(): void
}

interface Reply {
  id?: number
  method?: string
  params?: { context?: { id: number } }
  result?: Record<string, unknown>
  error?: { message: string }
}

interface RemoteObject {
  objectId?: string
  value?: unknown
}

const OBJECT_GROUP = 'edge-auth-memory'

/**
 * Connects to the inspector of `wrangler dev` at `port` (which accepts one client at a time, from
 * a local origin) and finds the Worker's execution context.
 */
export async function inspectWorker(port: number): Promise<IsolateInspector> {
  // Node's WebSocket (undici) takes headers; wrangler's proxy wants a local Origin.
  const Socket = WebSocket as unknown as new (
    url: string,
    init: { headers: Record<string, string> },
  ) => WebSocket
  const socket = new Socket(`ws://127.0.0.1:${port}/ws`, {
    headers: { origin: 'http://127.0.0.1' },
  })
  const pending = new Map<number, (reply: Reply) => void>()
  const contexts: number[] = []
  let next = 0
  socket.addEventListener('message', (event) => {
    const reply = JSON.parse(String(event.data)) as Reply
    const waiting = reply.id === undefined ? undefined : pending.get(reply.id)
    if (waiting !== undefined && reply.id !== undefined) {
      pending.delete(reply.id)
      waiting(reply)
    } else if (reply.method === 'Runtime.executionContextCreated' && reply.params?.context) {
      contexts.push(reply.params.context.id)
    }
  })
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true })
    socket.addEventListener('error', () => reject(new Error(`no inspector on port ${port}`)), {
      once: true,
    })
  })

  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++next
      pending.set(id, (reply) =>
        reply.error
          ? reject(new Error(`${method}: ${reply.error.message}`))
          : resolve(reply.result ?? {}),
      )
      socket.send(JSON.stringify({ id, method, params }))
    })

  // Wrangler's proxy enabled the Runtime domain on its own session before we came; enabling it
  // again after a disable makes V8 announce the existing context to us.
  await call('Runtime.disable')
  await call('Runtime.enable')
  for (let waited = 0; contexts.length === 0 && waited < 5000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const contextId = contexts.at(-1)
  if (contextId === undefined) throw new Error('the inspector announced no execution context')

  const remote = async (method: string, params: Record<string, unknown>, key: string) =>
    (await call(method, { ...params, objectGroup: OBJECT_GROUP }))[key] as RemoteObject

  return {
    async memory() {
      try {
        const prototype = await remote(
          'Runtime.evaluate',
          { expression: 'WebAssembly.Memory.prototype', contextId },
          'result',
        )
        const memories = await remote(
          'Runtime.queryObjects',
          { prototypeObjectId: prototype.objectId },
          'objects',
        )
        const sizes = await remote(
          'Runtime.callFunctionOn',
          {
            objectId: memories.objectId,
            functionDeclaration: 'function () { return this.map((m) => m.buffer.byteLength) }',
            returnByValue: true,
          },
          'result',
        )
        const heap = (await call('Runtime.getHeapUsage')) as {
          usedSize: number
          backingStorageSize?: number
        }
        const backingStores = heap.backingStorageSize
        if (backingStores === undefined) throw new Error('getHeapUsage gave no backingStorageSize')
        const wasmMemories = sizes.value as number[]
        const wasm = wasmMemories.reduce((sum, bytes) => sum + bytes, 0)
        return {
          jsHeap: heap.usedSize,
          backingStores,
          wasmMemories,
          total: heap.usedSize + backingStores + wasm,
        }
      } finally {
        await call('Runtime.releaseObjectGroup', { objectGroup: OBJECT_GROUP })
      }
    },
    close: () => socket.close(),
  }
}
