/**
 * The parts every other module shares and none owns: atomic writes ({@code io}), checksums ({@code
 * checksum}), the protobuf wire format ({@code protobuf}) and the run directory's live contract
 * ({@code run}: status files, following logs). It depends on the JDK and Jackson.
 */
package dev.cria.core;
