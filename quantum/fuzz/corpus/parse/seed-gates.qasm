OPENQASM 2.0;
include "qelib1.inc";
gate g0(t) a, b { rz(t/2) a; cx a, b; u3(t, 0, -t) b; }
gate g1(t) a, b { g0(t) a, b; g0(-t) b, a; barrier a, b; }
qreg q[3];
creg c[3];
g1(pi) q[0], q[2];
g0(sin(pi/3)^2) q[1], q[0];
barrier q;
reset q[1];
measure q -> c;
if (c == 5) h q;
