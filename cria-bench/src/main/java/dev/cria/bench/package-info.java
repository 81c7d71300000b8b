/**
 * JMH benchmarks of the engine: the GEMM on the shapes of training, attention forward and backward,
 * and a whole training step; plus {@link dev.cria.bench.FmaPeakMain}, the machine's FMA peak. Build
 * with {@code ./mvnw -B package}, run {@code java --add-modules jdk.incubator.vector -jar
 * cria-bench/target/benchmarks.jar [regex]}.
 */
package dev.cria.bench;
