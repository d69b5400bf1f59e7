lmgraph*´
base	
x	
y

big"	
s*
sAddxk"s*
yNegs"y2+
k*!
external_range.safetensors 2/
big*!
external_range.safetensors¬8