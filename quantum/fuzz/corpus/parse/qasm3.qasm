OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
gate g(a) x, y { ctrl @ rz(a) x, y; }
h q[0];
g(pi/2) q[0], q[1];
c = measure q;
if (c == 1) x q[1];
