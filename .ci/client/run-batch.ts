// Runs one batch through a TypeScript client generated from the service's own OpenAPI document
// (swagger-typescript-api), as another team would: create, poll, read the slots, check them.
import { Api, BatchStatus, FetchErrorCode, SlotState } from "./Api";

async function main(): Promise<void> {
  const base = process.env.FETCHAPI_URL ?? "http://localhost:8080";
  const api = new Api({ baseUrl: base });
  const urls = [`${base}/health/live`, `${base}/health/ready`, "http://127.0.0.1:1/"];

  const created = await api.batches.createBatch({ urls, options: { maxAttempts: 1, concurrency: 2 } });
  if (created.status !== 202) throw new Error(`createBatch answered ${created.status}`);
  const id = created.data.id;

  const deadline = Date.now() + 30_000;
  for (;;) {
    const summary = await api.batches.getBatch(id, { results: false });
    if (summary.data.status === BatchStatus.Completed) break;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${summary.data.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const page = (await api.batches.getBatch(id, { limit: 1000 })).data;
  const seen = (page.results ?? []).map((slot) => `${slot.index}:${slot.state}:${slot.response?.statusCode ?? slot.error?.code}`);
  const expected = [`0:${SlotState.Fetched}:200`, `1:${SlotState.Fetched}:200`, `2:${SlotState.Failed}:${FetchErrorCode.ConnectionRefused}`];
  if (JSON.stringify(seen) !== JSON.stringify(expected)) throw new Error(`slots ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
  console.log(`generated client ran batch ${id}: ${seen.join(", ")}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
