"""The sandbox's drills, one per module, each a harness.sandbox.drill.Drill: what it requires, what
it breaks, what must hold and how long it may take, and how the world is put back."""
