/** Off-heap float storage addressed by {@code long} element offsets (models beyond 2^31 floats). */
package dev.cria.engine.tensor;
