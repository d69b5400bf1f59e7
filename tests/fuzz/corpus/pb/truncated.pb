lmgraph"
	objectivenone*°
tiny	
x

ids
r	
t
m"	
y"	
h"
mean"
rstd"	
g*
yMulxw"y*7
ln	LayerNormywk"h"mean"rstd*
epsñhãˆµøä>*/
