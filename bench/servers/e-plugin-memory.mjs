// (e) this plugin with MemoryStore.
import { MemoryStore } from '../../dist/esm/index.js'
import { startPlugin } from './plugin.mjs'

await startPlugin(new MemoryStore())
