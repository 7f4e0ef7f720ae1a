"use strict";
// Every cluster of the run, for the search of index.html.
window.dedupIndex = {"fields":["cluster","size","min_jaccard","mean_jaccard","min_containment","page","noise","snippet","members"],"noise_kinds":["characters converted from traditional","pinyin annotations","junk fragments","mojibake runs","full-width characters","line breaks inside sentences","HTML tags or entities","regional word forms folded","lists of links"],"rows":[[0,2,0.678,0.678,0.97,1,11,"來源:云南發(fā)布",["001_096293c0fedcb6b3.txt","000_fa5b47ae513dff0c.txt"]]]};
