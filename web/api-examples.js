// One short example per public name of dynscope, for the docs panel. The
// build (web/gen-api-docs.mjs) runs each one in Pyodide with the dynscope
// being shipped and shows what it printed, and fails when a public name of
// the module has no example here or an example names none: the panel
// cannot drift from the module. The lines of each entry come from the
// module's own docstrings, not from here.
export const API_EXAMPLES = {
  bind: `from dynscope import bind, get
def who(): return get("user")
with bind(user="ada"):
    print(who())`,
  get: `import dynscope
print(dynscope.get("colour", "unbound"))
with dynscope.bind(colour="red"):
    print(dynscope.get("colour"))`,
  bound: `import dynscope
with dynscope.bind(x=1):
    print(dynscope.bound("x"), dynscope.bound("y"))`,
  assign: `import dynscope
def bump(): dynscope.assign("n", dynscope.get("n") + 1)
with dynscope.bind(n=1):
    bump()
    print(dynscope.get("n"))`,
  set_here: `import dynscope
def handler():
    dynscope.set_here("request", "r-1")
    return helper()
def helper(): return dynscope.get("request")
print(handler(), dynscope.bound("request"))`,
  unbind: `import dynscope
with dynscope.bind(x="outer"):
    with dynscope.bind(x="inner"):
        dynscope.unbind("x")
        print(dynscope.get("x"))`,
  snapshot: `import dynscope
def f():
    with dynscope.bind(x=2):
        return dynscope.snapshot()
with dynscope.bind(x=1):
    print([(s["function"], s["bindings"]) for s in f()])`,
  live_count: `import dynscope
before = dynscope.live_count()
with dynscope.bind(a=1, b=2):
    print(dynscope.live_count() - before)`,
  scope_version: `import dynscope
v = dynscope.scope_version()
with dynscope.bind(x=1):
    pass
print(dynscope.scope_version() != v)`,
  capture: `import dynscope
with dynscope.bind(user="ada"):
    c = dynscope.capture()
print(c.run(dynscope.get, "user"))`,
  wrap: `import dynscope
with dynscope.bind(user="ada"):
    callback = dynscope.wrap(lambda: dynscope.get("user"))
print(callback(), dynscope.get("user", "unbound"))`,
  block: `import dynscope
@dynscope.block
def bump():
    count += 1
def main():
    count = 41
    bump()
    return count
print(main())`,
  dynamic: `from dynscope import dynamic
def show(): return dynamic.user
def handle():
    dynamic.user = "grace"   # bound in this frame
    return show()
print(handle(), "user" in dynamic)`,
  Binding: `import dynscope
b = dynscope.bind(x=1)
print(type(b).__name__)
with b:
    print(dynscope.get("x"))`,
  Capture: `import dynscope
with dynscope.bind(x=1):
    c = dynscope.capture()
with c:
    print(type(c).__name__, dynscope.get("x"))`,
  Namespace: `import dynscope
config = dynscope.Namespace()
with config.bind(debug=True):
    print(config.debug, dynscope.bound("debug"))`,
  FallbackBuiltins: `import builtins, dynscope
g = {"__builtins__": dynscope.FallbackBuiltins(builtins.__dict__)}
with dynscope.bind(user="ada"):
    exec("print(user)", g)`,
  TaskConveyance: `import asyncio, dynscope
async def main():
    dynscope.install_task_conveyance()
    f = asyncio.get_running_loop().get_task_factory()
    print(type(f).__name__)
asyncio.run(main())`,
  install_task_conveyance: `import asyncio, dynscope
async def child(): return dynscope.get("user")
async def main():
    dynscope.install_task_conveyance()
    with dynscope.bind(user="ada"):
        task = asyncio.create_task(child())
    print(await task)
asyncio.run(main())`,
  task_factory: `import asyncio, dynscope
async def child(): return dynscope.get("user")
async def main():
    asyncio.get_running_loop().set_task_factory(dynscope.task_factory)
    with dynscope.bind(user="ada"):
        task = asyncio.create_task(child())
    print(await task)
asyncio.run(main())`,
  compat: `from dynscope.compat.dysco import Dysco, g
def audit(): return g.user
def view():
    g.user = "ada"
    return audit()
print(view())`,
};
