// Shared by the client drivers: run named cases, print one JSON object {case: result}.
// A case's failure is recorded (error name, status, message), never thrown, so one broken
// cell does not hide the others.

export const weather = {
  type: "object",
  properties: { city: { type: "string" }, unit: { type: "string" } },
  required: ["city"],
};

export function describeError(error) {
  return {
    name: error?.constructor?.name ?? typeof error,
    status: error?.status ?? error?.statusCode ?? null,
    code: error?.code ?? null,
    message: String(error?.message ?? error).slice(0, 300),
  };
}

export async function runCases(cases) {
  const wanted = process.argv.slice(3);
  const results = {};
  for (const [name, run] of Object.entries(cases)) {
    if (wanted.length && !wanted.includes(name)) continue;
    try {
      results[name] = { ok: true, value: await run() };
    } catch (error) {
      results[name] = { ok: false, error: describeError(error) };
    }
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}
