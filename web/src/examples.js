// The examples menu: the cases that explain scopebox, from the design seeds
// (docs/dynamic-scope.md scenarios and the seeds behind them).
export const EXAMPLES = [
  {
    id: "hello",
    title: "Hello, dynamic scope",
    note: "greet() never receives `user` or `greeting`: a name that is not local, global or builtin is looked up in the dynamic scope of whoever is calling right now. `name` comes from the Scope, `greeting` from the root dynamic bindings.",
    mode: "exec",
    code: `import dynscope

def greet():
    # Neither name is a parameter, a global or a builtin: both are found
    # by walking the callers' dynamic bindings.
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
    note: "The generator binds x and is suspended inside that with-block. With dynscope its binding never leaks to whoever resumes it, and it keeps seeing its own x. The same program with contextvars leaks the generator's value to the caller (seed 003).",
    mode: "exec",
    code: `import contextvars
import dynscope

def gen():
    with dynscope.bind(x="in-gen"):
        while True:
            yield dynscope.get("x")

g = gen()
print("dynscope:   ", next(g), dynscope.get("x", "unbound"))
with dynscope.bind(x="caller"):
    print("dynscope:   ", next(g), dynscope.get("x"))
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
    note: "The request's variables are module globals, so they resolve inside nested comprehensions, lambdas and class bodies, where a plain exec(code, globals, locals) would fail with a NameError (seed 002).",
    mode: "eval",
    code: `[(x, y) for x in list1 for y in list2 if (x, y) not in skip]
`,
    scope: { list1: [0, 1, 2], list2: ["a", "b"], skip: { $type: "set", items: [{ $type: "tuple", items: [1, "b"] }] } },
    dynamic: {},
  },
  {
    id: "dysco",
    title: "Dysco-style dynamic.user",
    note: "Attribute assignment on dynscope.dynamic binds the name in the calling frame, as Dysco's g.user does, and the binding dies with that frame. The snippet returns dynscope.snapshot(), drawn below as the stack of frames with their bindings (seed 000).",
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
    note: "@dynscope.block turns a function body into a block that runs in its caller's scope: bump() reads and assigns main()'s local variables (Python 3.13+, PEP 667; seed 001).",
    mode: "exec",
    code: `import dynscope

@dynscope.block
def bump():
    count += step
    history.append(count)

def main():
    count, step, history = 0, 5, []
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
    note: "Answers are tagged JSON, so nothing is rounded or turned into a string on the way: a float in its shortest form, an int of any size, a set, a Decimal, a datetime and bytes come back as what they are, on both engines.",
    mode: "exec",
    code: `import datetime, decimal

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
    note: "A Python exception is data: the error, the traceback of the snippet's own frames, and the offending line marked in the editor.",
    mode: "exec",
    code: `def ratio(a, b):
    return a / b

totals = {"done": 3, "failed": 0}
rates = [ratio(totals["done"], totals[k]) for k in totals]
`,
    scope: {},
    dynamic: {},
  },
  {
    id: "timeout",
    title: "A run past its time limit",
    note: "Every run has a time limit. The server stops a worker that overruns it; the browser engine interrupts Python. Stop does the same at any time.",
    mode: "exec",
    code: `n = 0
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
    note: "Start a session (below the bindings), then run this several times: the namespace persists between runs, and the session's scope is shown under the session.",
    mode: "exec",
    code: `counter = globals().get("counter", 0) + 1
history = globals().get("history", []) + [counter * step]
counter
`,
    scope: { step: 10 },
    dynamic: {},
  },
];

export function exampleById(id) {
  return EXAMPLES.find((e) => e.id === id) ?? null;
}
