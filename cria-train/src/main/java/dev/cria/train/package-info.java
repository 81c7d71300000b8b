/**
 * The training job (issue 4 onwards). So far: {@code metrics}, TensorBoard event files with NeMo's
 * metric names. The trainer loop, the run directory and the launcher are not built yet.
 */
package dev.cria.train;
