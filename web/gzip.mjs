// Writes <file>.gz next to each file given (gzip level 9), for the server
// to send to clients that accept gzip (server/static.c). The build only
// asks for files that compress well.
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync, constants } from "node:zlib";

for (const file of process.argv.slice(2)) {
  writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: constants.Z_BEST_COMPRESSION }));
}
