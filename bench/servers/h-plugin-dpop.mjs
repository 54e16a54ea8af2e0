// (h) this plugin with MemoryStore and DPoP on (required: false): Bearer and DPoP clients alike.
import { MemoryStore } from '../../dist/esm/index.js'
import { startPlugin } from './plugin.mjs'

await startPlugin(new MemoryStore(), async () => {}, { dpop: true })
