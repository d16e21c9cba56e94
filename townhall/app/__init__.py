"""Application layer: use cases (load, decide, persist, carry out effects, publish),
presenters and the runtime that owns every resource."""
