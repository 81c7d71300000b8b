/**
 * What the pre-compile job does before a run ({@code cria compile}): the memory plan of a rank by
 * kind, computed without allocating ({@link dev.cria.train.compile.MemoryPlan}), its table and JSON
 * ({@link dev.cria.train.compile.PlanReport}), and what a process really holds ({@link
 * dev.cria.train.metrics.ProcessMemory}), which every run logs beside its plan.
 */
package dev.cria.train.compile;
