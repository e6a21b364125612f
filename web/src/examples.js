// The examples menu: the cases that explain scopebox, from the design seeds
// (docs/dynamic-scope.md scenarios and the seeds behind them).
export const EXAMPLES = [
  {
    id: "hello",
    title: "Hello, dynamic scope",
    note: "greet() never receives `user` or `greeting`: a name that is not local, global or builtin is looked up in the dynamic scope of whoever is calling right now. `name` comes from the Scope, `greeting` from the root dynamic bindings. The snapshot greet() takes shows the stack it looked in; after the run, `user` has ended with its with-block.",
    mode: "exec",
    code: `import dynscope

def greet():
    # Neither name is a parameter, a global or a builtin: both are found
    # by walking the callers' dynamic bindings, drawn by this snapshot.
    dynscope.snapshot()
    return f"{greeting}, {user}!"

with dynscope.bind(user=name):
    message = greet()
message
`,
    scope: { name: "ada" },
    dynamic: { greeting: "hello" },
  },
  {
    id: "generator",
    title: "A generator suspended inside a binding",
    note: "The generator binds x and is suspended inside that with-block. With dynscope its binding never leaks to whoever resumes it, and it keeps seeing its own x: the snapshots show its x on top of the caller's while it runs, and only the caller's once it is suspended. The same program with contextvars leaks the generator's value to the caller (seed 003).",
    mode: "exec",
    code: `import contextvars
import dynscope

def gen():
    with dynscope.bind(x="in-gen"):
        while True:
            dynscope.snapshot()  # what gen() sees
            yield dynscope.get("x")

g = gen()
print("dynscope:   ", next(g), dynscope.get("x", "unbound"))
with dynscope.bind(x="caller"):
    print("dynscope:   ", next(g), dynscope.get("x"))
    dynscope.snapshot()      # the caller's view
print("dynscope:   ", dynscope.get("x", "unbound"))

# The same program with a ContextVar: the generator's set() leaks out.
var = contextvars.ContextVar("x", default="unbound")

def cgen():
    var.set("in-gen")
    while True:
        yield var.get()

c = cgen()
print("contextvars:", next(c), var.get())
token = var.set("caller")
print("contextvars:", next(c), var.get())
var.reset(token)
print("contextvars:", var.get())
`,
    scope: {},
    dynamic: {},
  },
  {
    id: "comprehension",
    title: "Nested comprehension over scoped lists",
    note: "The request's variables are module globals, so they resolve inside nested comprehensions, lambdas and class bodies, where a plain exec(code, globals, locals) would fail with a NameError (seed 002). `skip` is no global at all: it is a root dynamic binding, found there by the same walk, and shown under Dynamic scope.",
    mode: "eval",
    code: `[(x, y) for x in list1 for y in list2 if (x, y) not in skip]
`,
    scope: { list1: [0, 1, 2], list2: ["a", "b"] },
    dynamic: { skip: { $type: "set", items: [{ $type: "tuple", items: [1, "b"] }] } },
  },
  {
    id: "dysco",
    title: "Dysco-style dynamic.user",
    note: "Attribute assignment on dynscope.dynamic binds the name in the calling frame, as Dysco's g.user does, and the binding dies with that frame. audit() takes a snapshot at each call, so both requests' stacks are drawn, in order; the second is also the snippet's value (seed 000).",
    mode: "exec",
    code: `import dynscope
from dynscope import dynamic

def audit(action):
    # request_id is a root binding sent with the request
    print(f"[{request_id}] {dynamic.user} ({dynamic.role}) {action}")
    return dynscope.snapshot()

def handle(user):
    dynamic.user = user          # bound in this frame, like Dysco's g.user
    with dynscope.bind(role="admin" if user == "ada" else "guest"):
        return audit("signed in")

handle("grace")
snap = handle("ada")
print("after the calls, user is bound:", "user" in dynamic)
snap
`,
    scope: {},
    dynamic: { request_id: "r-42" },
  },
  {
    id: "block",
    title: "A code block run in the caller's scope",
    note: "@dynscope.block turns a function body into a block that runs in its caller's scope: bump() reads and assigns main()'s local variables `count` and `history` (Python 3.13+, PEP 667; seed 001). Those are locals, not dynamic bindings, so the snapshot inside bump() shows only `step`, which main() bound dynamically.",
    mode: "exec",
    code: `import dynscope

@dynscope.block
def bump():
    count += step
    history.append(count)
    dynscope.snapshot()

def main():
    count, history = 0, []
    with dynscope.bind(step=5):
        bump()
        bump()
    return count, history

main()
`,
    scope: {},
    dynamic: {},
  },
  {
    id: "values",
    title: "Python values, exactly",
    note: "Answers are tagged JSON, so nothing is rounded or turned into a string on the way: a float in its shortest form, an int of any size, a set, a Decimal, a datetime and bytes come back as what they are, on both engines. Dynamic bindings too: the snapshot shows the bound ones exactly.",
    mode: "exec",
    code: `import datetime, decimal, dynscope

with dynscope.bind(limit=2 ** 70, rate=decimal.Decimal("0.07")):
    dynscope.snapshot()

{
    "pi": 3.14159,
    "third": 1 / 3,
    "big": 2 ** 100,
    "primes": {2, 3, 5, 7},
    "price": decimal.Decimal("19.99"),
    "when": datetime.datetime(2026, 12, 1, 9, 30),
    "raw": b"\\x00scope",
}
`,
    scope: {},
    dynamic: {},
  },
  {
    id: "error",
    title: "An exception, with its traceback",
    note: "A Python exception is data: the error, the traceback of the snippet's own frames, and the offending line marked in the editor. Under Dynamic scope, the bindings where it was raised (`stage`), taken before its with-block unwound them, and the run's end, where they are gone.",
    mode: "exec",
    code: `import dynscope

def ratio(a, b):
    return a / b

totals = {"done": 3, "failed": 0}
with dynscope.bind(stage="rates"):
    rates = [ratio(totals["done"], totals[k]) for k in totals]
`,
    scope: {},
    dynamic: {},
  },
  {
    id: "timeout",
    title: "A run past its time limit",
    note: "Every run has a time limit. The server stops a worker that overruns it; the browser engine interrupts Python. Stop does the same at any time. What the run printed and the snapshots it took before it was stopped are kept.",
    mode: "exec",
    code: `import dynscope

n = 0
print("counting…")
with dynscope.bind(phase="counting"):
    dynscope.snapshot()
    while True:        # stopped by the time limit
        n += 1
`,
    scope: {},
    dynamic: {},
    timeout: 1000,
  },
  {
    id: "session",
    title: "A session keeps its namespace",
    note: "Start a session (below the bindings), then run this several times: the namespace persists between runs, and the session's scope is shown under the session. Dynamic bindings do not persist: `run_by` is a root binding each request sends anew.",
    mode: "exec",
    code: `counter = globals().get("counter", 0) + 1
history = globals().get("history", []) + [counter * step]
print(f"run {counter}, by {run_by}")
counter
`,
    scope: { step: 10 },
    dynamic: { run_by: "ada" },
  },
];

export function exampleById(id) {
  return EXAMPLES.find((e) => e.id === id) ?? null;
}
