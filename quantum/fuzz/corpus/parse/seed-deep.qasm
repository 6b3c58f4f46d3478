OPENQASM 2.0;
include "qelib1.inc";
qreg q[1];
rz(--(((-(1+2*3)/4)^2))) q[0];
